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

# Spread over the 25 ops below, 400 per op (10,000) plus the layer fuzzing's 3,000
# (tests/test_bad_input_layers.py) give the >= 10,000 examples per CI run that issue 7 asks
# for; tools/sanitize.sh runs fewer (ASan makes each one slower).
EXAMPLES_PER_OP = int(os.environ.get("CHALKNET_FUZZ_EXAMPLES_PER_OP", "400"))

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


def _max_pool_with_argmax_case(rng, dtype):
    x, kwargs = _pool_geometry(rng, dtype)
    return [x], kwargs, 1


def _max_pool_backward_argmax_case(rng, dtype):
    """argmax from the forward pass, with some entries moved anywhere (even off the image):
    those must route nothing."""
    x, kwargs = _pool_geometry(rng, dtype)
    _, argmax = reference.max_pool2d_with_argmax(x, **kwargs)
    moved = rng.random(argmax.shape) < 0.3
    argmax[moved] = rng.integers(-2, x.shape[1] * x.shape[2] + 2, size=int(moved.sum()))
    return [_normal(rng, argmax.shape, dtype), argmax, x.shape], kwargs, kwargs["pool_size"] ** 2


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


def _relu_backward_case(rng, dtype):
    shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 5))))
    return [_normal(rng, shape, dtype), _normal(rng, shape, dtype)], {}, 1


CASES = {
    "matmul": _matmul_case,
    "conv2d": _conv2d_case,
    "conv2d_backward_input": _conv2d_backward_input_case,
    "conv2d_backward_kernel": _conv2d_backward_kernel_case,
    "max_pool2d": _pool_case,
    "max_pool2d_backward": _max_pool_backward_case,
    "max_pool2d_with_argmax": _max_pool_with_argmax_case,
    "max_pool2d_backward_argmax": _max_pool_backward_argmax_case,
    "avg_pool2d": _pool_case,
    "avg_pool2d_backward": _avg_pool_backward_case,
    "global_avg_pool2d": _global_case,
    "global_avg_pool2d_backward": _global_avg_backward_case,
    "global_max_pool2d": _global_case,
    "global_max_pool2d_backward": _global_max_backward_case,
    "relu_backward": _relu_backward_case,
}


# ----- gemm, the recurrent ops and CTC (added by branch harden) -------------------------------

def _gemm_case(rng, dtype):
    [a, b], kwargs, k = _matmul_case(rng, dtype)
    m = a.shape[1] if kwargs["transpose_a"] else a.shape[0]
    n = b.shape[0] if kwargs["transpose_b"] else b.shape[1]
    kwargs.update(alpha=float(rng.choice([1.0, -0.5, 2.0])),
                  beta=float(rng.choice([0.0, 1.0, 0.5])))
    return [a, b, _normal(rng, (m, n), dtype)], kwargs, k + 1


RNN_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
RNN_ACTIVATIONS = ["tanh", "relu", "sigmoid", "linear", "hard_sigmoid"]


def _rnn_forward_case(op, rng, dtype):
    """Arguments of ops.<op>: x, initial states, kernel, recurrent kernel, bias, mask."""
    batch, steps, features, units = (int(v) for v in rng.integers(1, 5, size=4))
    gates = RNN_GATES[op]
    x = _normal(rng, (batch, steps, features), dtype)
    states = [_normal(rng, (batch, units), dtype) for _ in range(2 if op == "lstm" else 1)]
    kernel = 0.5 * _normal(rng, (features, gates * units), dtype)
    recurrent = 0.5 * _normal(rng, (units, gates * units), dtype)
    bias = _normal(rng, (2, gates * units) if op == "gru" else (gates * units,), dtype)
    kwargs = {"mask": (rng.random((batch, steps)) < 0.7) if rng.integers(2) else None,
              "activation": str(rng.choice(RNN_ACTIVATIONS[:2]))}
    if op != "simple_rnn":
        kwargs["recurrent_activation"] = str(rng.choice(["sigmoid", "hard_sigmoid"]))
    # One output sums over the features and units of every earlier step.
    return [x, *states, kernel, recurrent, bias], kwargs, (features + units + 1) * steps


class ForwardCache:
    """Stands for the cache of a forward call: each side (ops, reference) runs its own."""

    def __init__(self, op, args, kwargs):
        self.op, self.args, self.kwargs = op, args, kwargs

    def resolve(self, module):
        return getattr(module, self.op)(*self.args, **self.kwargs)[-1]


def _rnn_backward_case(op, rng, dtype):
    args, kwargs, reduction = _rnn_forward_case(op, rng, dtype)
    batch, steps = args[0].shape[:2]
    units = args[1].shape[1]
    d_outputs = _normal(rng, (batch, steps, units), dtype)
    finals = [_normal(rng, (batch, units), dtype) if rng.integers(2) else None
              for _ in range(2 if op == "lstm" else 1)]
    # The weight gradients sum over batch and time on top of the forward chain.
    return [d_outputs, *finals, ForwardCache(op, args, kwargs)], {}, reduction * batch * steps


def _ctc_arguments(rng, dtype):
    batch, time, classes = int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(2, 5))
    blank = int(rng.integers(classes))
    others = [c for c in range(classes) if c != blank]
    width = int(rng.integers(0, 4))
    labels = rng.choice(others, size=(batch, width)).astype(np.int32)
    label_lengths = rng.integers(0, width + 1, size=batch).astype(np.int32)
    logit_lengths = rng.integers(0, time + 1, size=batch).astype(np.int32)
    logits = 2 * _normal(rng, (batch, time, classes), dtype)
    return labels, logits, label_lengths, logit_lengths, blank


def _ctc_loss_case(rng, dtype):
    labels, logits, label_lengths, logit_lengths, blank = _ctc_arguments(rng, dtype)
    kwargs = {"blank": blank, "zero_infinity": bool(rng.integers(2))}
    return [labels, logits, label_lengths, logit_lengths], kwargs, 4 * logits.shape[1] + 8


def _ctc_decode_case(rng, dtype):
    _, logits, _, logit_lengths, blank = _ctc_arguments(rng, dtype)
    greedy = bool(rng.integers(2))
    beam_width = int(rng.integers(1, 5))
    kwargs = {"greedy": greedy, "beam_width": beam_width,
              "top_paths": 1 if greedy else int(rng.integers(1, beam_width + 1)), "blank": blank}
    return [logits, logit_lengths], kwargs, 4 * logits.shape[1] + 8


CASES.update({
    "gemm": _gemm_case,
    "ctc_loss": _ctc_loss_case,
    "ctc_loss_and_gradient": _ctc_loss_case,
    "ctc_decode": _ctc_decode_case,
})
for _op in RNN_GATES:
    CASES[_op] = (lambda op: lambda rng, dtype: _rnn_forward_case(op, rng, dtype))(_op)
    CASES[f"{_op}_backward"] = (
        lambda op: lambda rng, dtype: _rnn_backward_case(op, rng, dtype))(_op)

# Absurd values per keyword, beyond the geometry ones.
ABSURD_KEYWORDS = {
    "activation": ["softmax", "bogus", None, 3],
    "recurrent_activation": ["tanh2", None, 0.5],
    "mask": [np.ones((1, 1), dtype=bool), np.zeros((9, 9)), "all"],
    "alpha": [np.nan, np.inf, "two", None],
    "beta": [np.nan, -np.inf, "zero", None],
    "transpose_a": [2, "yes", None],
    "blank": [-1, 99, 1.5, None, True],
    "zero_infinity": [2, None],
    "greedy": [0, "no"],
    "beam_width": [0, -3, 2**40, 2.5, True],
    "top_paths": [0, -1, 1000, 1.0],
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
    floats = [i for i in _array_positions(args) if args[i].dtype.kind == "f"]
    if not floats:
        return "nothing (no float argument)"
    i = int(rng.choice(floats))
    a = args[i] = args[i].copy()
    if a.size:
        a.reshape(-1)[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
    return f"argument {i} with a NaN/inf"


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
        return a[..., None] if rng.integers(2) or a.ndim == 0 else a.reshape((*a.shape[:-2], -1))
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
    geometry = [k for k in ("strides", "pool_size", "dilation_rate", "padding") if k in kwargs]
    names = geometry + [k for k in ABSURD_KEYWORDS if k in kwargs]
    if not names:
        return "nothing (no hyper-parameters)"
    name = str(rng.choice(names))
    absurd = ABSURD_KEYWORDS.get(name, [0, -1, -3, 2**40, 64, (1, 0), (2, 2, 2), "full", 1.5,
                                        None])
    kwargs[name] = absurd[rng.integers(len(absurd))]
    return f"{name}={kwargs[name]!r}"


MUTATIONS = [_bad_dtype, _non_finite, _fortran, _negative_strides, _read_only, _wrong_rank,
             _resize_axis, _absurd_hyper_parameter]


# ----- the judgement --------------------------------------------------------------------------

def _call(fn, args, kwargs):
    try:
        return fn(*args, **kwargs), None
    except Exception as error:
        return None, error


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def _agree(name, ours, want, reduction, what):
    for index, (got, ref) in enumerate(zip(_as_tuple(ours), _as_tuple(want), strict=True)):
        label = f"{name} output {index} after {what}"
        if isinstance(got, dict) or got is None or ref is None:  # a cache, or an absent bias
            assert (got is None) == (ref is None), f"{label}: {got!r} vs {ref!r}"
            continue
        if name == "ctc_decode" and index == 0:
            _agree_decoded(label, got, ref, want[1])
            continue
        if name == "ctc_decode":
            # A sample with a NaN score has meaningless other paths too (see _agree_decoded):
            # both sides must flag it with a NaN; its other scores are not compared.
            flagged = np.isnan(np.asarray(ref, dtype=np.float64)).any(axis=1)
            assert np.array_equal(np.isnan(np.asarray(got, dtype=np.float64)).any(axis=1),
                                  flagged), f"{label}: NaN-scored samples differ"
            got, ref = np.asarray(got)[~flagged], np.asarray(ref)[~flagged]
        assert np.shape(got) == np.shape(ref), f"{label}: shape {np.shape(got)} vs {np.shape(ref)}"
        got = np.asarray(got, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if name == "ctc_loss_and_gradient" and index == 1:
            # A sample whose loss is NaN (both sides checked that above) has a meaningless
            # gradient; only "NaN for that sample only" is promised (DESIGN.md, CTC).
            meaningful = ~np.isnan(np.asarray(want[0], dtype=np.float64))
            got, ref = got[meaningful], ref[meaningful]
        if name.split("_backward")[0] in RNN_GATES and ref.ndim:
            # An infinite input meets 0 * inf in the gate formulas, and ops and reference
            # differ there legitimately: the algebra is arranged differently (z h + (1 - z) h~
            # or h~ + z (h - h~)), and the kernel's float sigmoid(-inf) is 1.6e-38, not 0 (its
            # exp clamps at -87), so inf * sigmoid is -inf where the reference has NaN and a
            # tiny finite value may follow.  Rule: a row (sample, or feature of a weight
            # gradient) the reference leaves finite is compared in full; a row it makes
            # non-finite must be non-finite somewhere in ours too.
            finite_rows = np.isfinite(ref).reshape(len(ref), -1).all(axis=1)
            ours_flagged = ~np.isfinite(got).reshape(len(got), -1).all(axis=1)
            assert ours_flagged[~finite_rows].all(), f"{label}: a non-finite row came out finite"
            got, ref = got[finite_rows], ref[finite_rows]
            assert np.isfinite(got).all(), f"{label}: non-finite where the reference is finite"
        else:
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


def _for(module, args, made, ctc=False):
    """The arguments as ``module`` receives them: forward caches resolved; for the reference,
    arrays turned from float to integer/bool by a mutation are float64 again (the ops compute
    such input as floats, documented).  The CTC twins take integer logits themselves (as
    float32, like the ops: exact ties between beam prefixes must round alike)."""
    resolved = []
    for arg, dtype in zip(args, made, strict=True):
        if isinstance(arg, ForwardCache):
            arg = arg.resolve(module)
        elif (module is reference and not ctc and isinstance(arg, np.ndarray) and dtype is not None
              and dtype.kind == "f" and arg.dtype.kind in "biu"):
            arg = arg.astype(np.float64)
        resolved.append(arg)
    return resolved


def _agree_decoded(label, got, ref, log_probabilities):
    """Decoded labels must match exactly, except for samples whose log-probability is NaN:
    the best path through NaN scores is undefined (NumPy's argmax picks the NaN, C++'s
    comparisons skip it); the NaN score, which must match, says the labels are meaningless."""
    meaningful = ~np.isnan(np.asarray(log_probabilities)).any(axis=1)
    assert len(got) == len(ref), f"{label}: {len(got)} paths vs {len(ref)}"
    for path, (ours, want) in enumerate(zip(got, ref, strict=True)):
        ours, want = ours[meaningful], want[meaningful]
        width = max(ours.shape[1], want.shape[1])
        ours = np.pad(ours, ((0, 0), (0, width - ours.shape[1])), constant_values=-1)
        want = np.pad(want, ((0, 0), (0, width - want.shape[1])), constant_values=-1)
        assert np.array_equal(ours, want), f"{label}, path {path}: {ours} vs {want}"


def _judge(name, build):
    """Run ops.<name> and its twin on two identical builds of the arguments (an op may write
    into one, as gemm does)."""
    (args, kwargs, reduction), made, what = build()
    ours, our_error = _call(getattr(ops, name), _for(ops, args, made, "ctc" in name), kwargs)
    (args, kwargs, _), made, _ = build()
    want, ref_error = _call(getattr(reference, name), _for(reference, args, made, "ctc" in name),
                             kwargs)
    if our_error is not None:
        assert isinstance(our_error, (ValueError, TypeError)), (
            f"ops.{name} after {what} raised {type(our_error).__name__}: {our_error}")
        assert f"ops.{name}" in str(our_error) or f"{name}:" in str(our_error), (
            f"ops.{name} after {what}: the error does not name the op: {our_error}")
        return
    assert ref_error is None, (
        f"ops.{name} accepted {what} but the reference refused it: {ref_error!r}")
    logits = args[0]
    if (name == "ctc_decode" and not kwargs.get("greedy", True)
            and isinstance(logits, np.ndarray) and logits.dtype.kind in "biu"):
        # Integer logits tie exactly; the two beam searches sum a prefix's alignments in
        # different orders, so mathematically equal scores round apart and the beams may be
        # pruned differently (seen: ops kept a better labelling the reference dropped).  What
        # is checked: integer logits decode exactly as their float32 copy does.
        want = ops.ctc_decode(logits.astype(np.float32), *args[1:], **kwargs)
    _agree(name, ours, want, reduction, what)


@settings(max_examples=EXAMPLES_PER_OP * len(CASES), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), op=st.sampled_from(sorted(CASES)),
       mutation=st.sampled_from(MUTATIONS), dtype=st.sampled_from([np.float32, np.float64]))
def test_bad_input_is_refused_clearly_or_computed_right(seed, op, mutation, dtype):
    def build():
        rng = np.random.default_rng(seed)
        args, kwargs, reduction = CASES[op](rng, dtype)
        made = [getattr(a, "dtype", None) for a in args]
        what = mutation(rng, args, kwargs)
        return (args, kwargs, reduction), made, f"{mutation.__name__.strip('_')} ({what})"

    _judge(op, build)


# ----- fixed findings, kept as plain tests ------------------------------------------------------

def test_recurrent_relu_and_hard_sigmoid_keep_nan():
    """A NaN in a recurrent op's input must reach its output (found by the fuzzing above: the
    clamps of relu and hard_sigmoid in csrc/kernels/rnn.cpp turned NaN into 0)."""
    x = np.array([[[np.nan], [1.0]]])
    h0 = np.zeros((1, 1))
    one = np.ones((1, 1))
    for activation in ("relu", "hard_sigmoid"):
        outputs, _, _ = ops.simple_rnn(x, h0, one, one, activation=activation)
        want, _, _ = reference.simple_rnn(x, h0, one, one, activation=activation)
        assert np.isnan(want).all()
        assert np.isnan(outputs).all(), f"simple_rnn({activation}) dropped a NaN: {outputs}"
    outputs = ops.gru(x, h0, np.ones((1, 3)), np.ones((1, 3)),
                      recurrent_activation="hard_sigmoid")[0]
    assert np.isnan(outputs).all(), f"gru(hard_sigmoid) dropped a NaN: {outputs}"


def test_masked_recurrent_steps_are_exactly_zero_even_after_a_nan():
    """A NaN state carried over a masked step must not leak into that step's output, which is
    0 (Keras; the reference): found by the fuzzing, ops computed states * mask = NaN * 0."""
    x = np.array([[[np.nan], [1.0]]])
    mask = np.array([[True, False]])
    one = np.ones((1, 1))
    outputs = ops.simple_rnn(x, np.zeros((1, 1)), one, one, mask=mask)[0]
    assert outputs[0, 1, 0] == 0 and np.isnan(outputs[0, 0, 0]), outputs
    cache = ops.simple_rnn(np.ones((1, 2, 1)), np.zeros((1, 1)), one, one, mask=mask)[2]
    d_outputs = np.array([[[1.0], [np.nan]]])  # the masked step's gradient is never used
    for module, state in ((ops, cache),
                          (reference, reference.simple_rnn(np.ones((1, 2, 1)), np.zeros((1, 1)),
                                                           one, one, mask=mask)[2])):
        d_x = module.simple_rnn_backward(d_outputs, None, state)[0]
        assert np.isfinite(d_x).all(), f"{module.__name__}: {d_x}"


def test_complex_gradients_and_text_scalars_are_refused():
    """Found by the fuzzing: a complex d_outputs was cast to float (imaginary part dropped) by
    the recurrent backward ops, and gemm's alpha="two" failed inside float() without naming
    the op."""
    one = np.ones((1, 1))
    cache = ops.simple_rnn(np.ones((1, 2, 1)), np.zeros((1, 1)), one, one)[2]
    try:
        ops.simple_rnn_backward(np.ones((1, 2, 1)) * 1j, None, cache)
    except TypeError as error:
        assert "ops.simple_rnn_backward" in str(error)
    else:
        raise AssertionError("a complex d_outputs was accepted")
    for value in ("two", None):
        try:
            ops.gemm(one, one, np.zeros((1, 1)), alpha=value)
        except TypeError as error:
            assert "ops.gemm" in str(error) and "alpha" in str(error)
        else:
            raise AssertionError(f"alpha={value!r} was accepted")


def test_ctc_reference_gradient_of_an_impossible_class_is_zero():
    """A -inf logit is a class of probability 0 (DESIGN.md, CTC): its gradient is 0 in the
    kernel; the reference gave NaN (-inf - (-inf)), found by the fuzzing."""
    logits = np.array([[[0.5, -0.1], [0.6, 1.8], [-np.inf, 2.7]]])
    args = (np.array([[1]]), logits, np.array([1]), np.array([3]))
    for module in (ops, reference):
        losses, d_logits = module.ctc_loss_and_gradient(*args)
        assert np.isfinite(losses).all() and np.isfinite(d_logits).all(), module.__name__
        assert d_logits[0, 2, 0] == 0, module.__name__


def test_float_gates_saturate_exactly_at_infinity():
    """sigmoid(-inf) = 0, sigmoid(inf) = 1, tanh(+/-inf) = +/-1 exactly in the float32 gate
    loops (found by the fuzzing: their exp clamped at -87/88, so sigmoid(-inf) was 6e-39 and
    an infinite recurrent weight gave finite outputs where the arithmetic gives NaN)."""
    x = np.array([[[-np.inf], [np.inf]]], dtype=np.float32)
    h0 = np.zeros((1, 1), dtype=np.float32)
    one, zero = np.ones((1, 1), dtype=np.float32), np.zeros((1, 1), dtype=np.float32)
    for activation, want in (("sigmoid", [0.0, 1.0]), ("tanh", [-1.0, 1.0])):
        outputs = ops.simple_rnn(x, h0, one, zero, activation=activation)[0]
        assert outputs.ravel().tolist() == want, f"{activation}: {outputs.ravel()}"
