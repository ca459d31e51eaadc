"""Every wrong thing a student can type, thrown at every public op (differential fuzzing).

Each case starts from valid arguments for one op, then applies one mutation: a wrong dtype
(int, bool, complex, object, float16), NaN/inf values, Fortran order, negative strides, a
read-only array, a wrong rank, a zero-size or mismatched axis, or an absurd hyper-parameter.
The op and its NumPy twin in ``chalknet.reference`` are both called.  Allowed outcomes:

* the op raises ``ValueError``/``TypeError`` and the message names the op (``ops.<name>``);
* the op returns, the reference returns too, and the two agree (NaN where the reference has
  NaN, the same infinities, finite values within a rounding bound from the arithmetic).

Anything else fails: another exception type, an error that does not say which op, a result the
reference refuses to produce, or a wrong value.  A crash (segfault, abort) kills the run.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalknet import ops, reference
from chalknet.reference.conv2d import conv_geometry

# Spread over the ops below, 1000 per op gives the >= 10,000 examples per CI run that issue 7
# asks for; tools/sanitize.sh runs fewer (ASan makes each one slower).
EXAMPLES_PER_OP = int(os.environ.get("CHALKNET_FUZZ_EXAMPLES_PER_OP", "1000"))

BAD_DTYPES = [np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.float16, object]


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ----- valid cases: (args, kwargs, reduction length) ------------------------------------------
# The reduction length is the longest sum behind one output value; it sets the rounding bound.

def _matmul_case(rng, dtype):
    m, k, n = rng.integers(1, 9, size=3)
    ta, tb = bool(rng.integers(2)), bool(rng.integers(2))
    a = _normal(rng, (k, m) if ta else (m, k), dtype)
    b = _normal(rng, (n, k) if tb else (k, n), dtype)
    return [a, b], {"transpose_a": ta, "transpose_b": tb}, k


def _conv_geometry(rng):
    n, h, w = rng.integers(1, 4), rng.integers(3, 8), rng.integers(3, 8)
    c, f, kh, kw = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 4)
    kwargs = {"strides": int(rng.integers(1, 3)), "padding": str(rng.choice(["valid", "same"])),
              "dilation_rate": 1}
    return (n, h, w, c), (kh, kw, c, f), kwargs


def _out_shape(x_shape, kernel_shape, kwargs):
    _, _, _, out_hw = conv_geometry(x_shape, kernel_shape[:2], kwargs["strides"],
                                    kwargs["padding"], kwargs["dilation_rate"])
    return (x_shape[0], *out_hw, kernel_shape[3])


def _conv2d_case(rng, dtype):
    x_shape, k_shape, kwargs = _conv_geometry(rng)
    x, kernel, bias = (_normal(rng, s, dtype) for s in (x_shape, k_shape, k_shape[3:]))
    return [x, kernel, bias], kwargs, int(np.prod(k_shape[:3])) + 1


def _conv2d_backward_input_case(rng, dtype):
    x_shape, k_shape, kwargs = _conv_geometry(rng)
    d_output = _normal(rng, _out_shape(x_shape, k_shape, kwargs), dtype)
    kernel = _normal(rng, k_shape, dtype)
    return [d_output, kernel, x_shape], kwargs, int(np.prod(k_shape[:2])) * k_shape[3]


def _conv2d_backward_kernel_case(rng, dtype):
    x_shape, k_shape, kwargs = _conv_geometry(rng)
    d_output = _normal(rng, _out_shape(x_shape, k_shape, kwargs), dtype)
    x = _normal(rng, x_shape, dtype)
    return [d_output, x, k_shape[:2]], kwargs, int(np.prod(d_output.shape[:3]))


def _pool_geometry(rng, dtype):
    x = _normal(rng, (rng.integers(1, 3), rng.integers(2, 7), rng.integers(2, 7),
                      rng.integers(1, 4)), dtype)
    kwargs = {"pool_size": int(rng.integers(1, 3)), "strides": None,
              "padding": str(rng.choice(["valid", "same"]))}
    return x, kwargs


def _pool_case(rng, dtype):
    x, kwargs = _pool_geometry(rng, dtype)
    return [x], kwargs, kwargs["pool_size"] ** 2


def _pool_d_output(rng, x, kwargs):
    y = reference.max_pool2d(x, **kwargs)
    return _normal(rng, y.shape, x.dtype)


def _max_pool_backward_case(rng, dtype):
    x, kwargs = _pool_geometry(rng, dtype)
    return [_pool_d_output(rng, x, kwargs), x], kwargs, kwargs["pool_size"] ** 2


def _avg_pool_backward_case(rng, dtype):
    x, kwargs = _pool_geometry(rng, dtype)
    return [_pool_d_output(rng, x, kwargs), x.shape], kwargs, kwargs["pool_size"] ** 2


def _global_case(rng, dtype):
    x, _ = _pool_geometry(rng, dtype)
    return [x], {}, x.shape[1] * x.shape[2]


def _global_avg_backward_case(rng, dtype):
    x, _ = _pool_geometry(rng, dtype)
    return [_normal(rng, (x.shape[0], x.shape[3]), dtype), x.shape], {}, 1


def _global_max_backward_case(rng, dtype):
    x, _ = _pool_geometry(rng, dtype)
    return [_normal(rng, (x.shape[0], x.shape[3]), dtype), x], {}, 1


CASES = {
    "matmul": _matmul_case,
    "conv2d": _conv2d_case,
    "conv2d_backward_input": _conv2d_backward_input_case,
    "conv2d_backward_kernel": _conv2d_backward_kernel_case,
    "max_pool2d": _pool_case,
    "max_pool2d_backward": _max_pool_backward_case,
    "avg_pool2d": _pool_case,
    "avg_pool2d_backward": _avg_pool_backward_case,
    "global_avg_pool2d": _global_case,
    "global_avg_pool2d_backward": _global_avg_backward_case,
    "global_max_pool2d": _global_case,
    "global_max_pool2d_backward": _global_max_backward_case,
}


# ----- mutations: each changes one argument and says what it did -------------------------------

def _array_positions(args):
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]


def _shape_positions(args):
    return [i for i, a in enumerate(args) if isinstance(a, tuple)]


def _mutate_array(rng, args, change):
    positions = _array_positions(args)
    i = int(rng.choice(positions))
    args[i] = change(args[i])
    return f"argument {i}"


def _bad_dtype(rng, args, kwargs):
    dtype = BAD_DTYPES[rng.integers(len(BAD_DTYPES))]
    return _mutate_array(rng, args, lambda a: a.astype(dtype)) + f" as {np.dtype(dtype)}"


def _non_finite(rng, args, kwargs):
    def poison(a):
        a = a.copy()
        if a.size:
            a.reshape(-1)[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        return a
    return _mutate_array(rng, args, poison) + " with a NaN/inf"


def _fortran(rng, args, kwargs):
    return _mutate_array(rng, args, np.asfortranarray) + " in Fortran order"


def _negative_strides(rng, args, kwargs):
    def reverse(a):
        return np.flip(a, axis=int(rng.integers(a.ndim))) if a.ndim else a
    return _mutate_array(rng, args, reverse) + " reversed (negative strides)"


def _read_only(rng, args, kwargs):
    def freeze(a):
        a = a.copy()
        a.flags.writeable = False
        return a
    return _mutate_array(rng, args, freeze) + " read-only"


def _wrong_rank(rng, args, kwargs):
    def reshape(a):
        return a[..., None] if rng.integers(2) or a.ndim == 0 else a.reshape(a.shape[:-2] + (-1,))
    return _mutate_array(rng, args, reshape) + " with another rank"


def _resize_axis(rng, args, kwargs):
    """A zero-size axis, or one axis longer/shorter, on an array or a shape argument."""
    positions = _array_positions(args) + _shape_positions(args)
    i = int(rng.choice(positions))
    shape = list(np.shape(args[i]) if isinstance(args[i], np.ndarray) else args[i])
    if not shape:
        return "nothing (scalar)"
    axis = int(rng.integers(len(shape)))
    shape[axis] = int(rng.choice([0, max(shape[axis] - 1, 0), shape[axis] + 1, shape[axis] + 7]))
    if isinstance(args[i], np.ndarray):
        args[i] = rng.standard_normal(shape).astype(args[i].dtype)
    else:
        args[i] = tuple(shape)
    return f"argument {i} resized to {tuple(shape)}"


def _absurd_hyper_parameter(rng, args, kwargs):
    names = [k for k in ("strides", "pool_size", "dilation_rate", "padding") if k in kwargs]
    if not names:
        return "nothing (no hyper-parameters)"
    name = str(rng.choice(names))
    absurd = [0, -1, -3, 2**40, 64, (1, 0), (2, 2, 2), "full", 1.5, None]
    kwargs[name] = absurd[rng.integers(len(absurd))]
    return f"{name}={kwargs[name]!r}"


MUTATIONS = [_bad_dtype, _non_finite, _fortran, _negative_strides, _read_only, _wrong_rank,
             _resize_axis, _absurd_hyper_parameter]


# ----- the judgement --------------------------------------------------------------------------

def _call(fn, args, kwargs):
    try:
        return fn(*args, **kwargs), None
    except Exception as error:  # noqa: BLE001 (any exception is an outcome to judge)
        return None, error


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def _agree(name, ours, want, reduction, what):
    for index, (got, ref) in enumerate(zip(_as_tuple(ours), _as_tuple(want))):
        label = f"{name} output {index} after {what}"
        assert np.shape(got) == np.shape(ref), f"{label}: shape {np.shape(got)} vs {np.shape(ref)}"
        got = np.asarray(got, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{label}: NaN pattern differs"
        infinite = np.isinf(ref)
        assert np.array_equal(got[infinite], ref[infinite]), f"{label}: infinities differ"
        finite = np.isfinite(ref)
        assert np.isfinite(got[finite]).all(), f"{label}: non-finite where the reference is finite"
        eps = np.finfo(np.float32).eps  # the least precise dtype an op may compute in
        scale = max(1.0, float(np.max(np.abs(ref[finite]), initial=0.0)))
        bound = 16 * reduction * eps * scale
        error = float(np.max(np.abs(got[finite] - ref[finite]), initial=0.0))
        assert error <= bound, f"{label}: |ours - reference| = {error:.3g} > {bound:.3g}"


def _judge(name, args, kwargs, reduction, what):
    ours, our_error = _call(getattr(ops, name), args, kwargs)
    # The ops compute integer and bool input as floats (documented); so does the reference here.
    as_float = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind in "biu" else a
                for a in args]
    want, ref_error = _call(getattr(reference, name), as_float, kwargs)
    if our_error is not None:
        assert isinstance(our_error, (ValueError, TypeError)), (
            f"ops.{name} after {what} raised {type(our_error).__name__}: {our_error}")
        assert f"ops.{name}" in str(our_error) or f"{name}:" in str(our_error), (
            f"ops.{name} after {what}: the error does not name the op: {our_error}")
        return
    assert ref_error is None, (
        f"ops.{name} accepted {what} but the reference refused it: {ref_error!r}")
    _agree(name, ours, want, reduction, what)


@settings(max_examples=EXAMPLES_PER_OP * len(CASES), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), op=st.sampled_from(sorted(CASES)),
       mutation=st.sampled_from(MUTATIONS), dtype=st.sampled_from([np.float32, np.float64]))
def test_bad_input_is_refused_clearly_or_computed_right(seed, op, mutation, dtype):
    rng = np.random.default_rng(seed)
    args, kwargs, reduction = CASES[op](rng, dtype)
    what = mutation(rng, args, kwargs)
    _judge(op, args, kwargs, reduction, f"{mutation.__name__.strip('_')} ({what})")
