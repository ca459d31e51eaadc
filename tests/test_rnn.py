"""ops.simple_rnn / ops.lstm / ops.gru and their backward passes against the NumPy reference,
finite differences, hand-computed cases, thread determinism and error messages.

Tolerances.  The weights are drawn so that every step is a contraction: each gate block of
recurrent_kernel has entries in +-1/(2H), so a row of it sums to at most 1/2 in absolute
value and an error in h_{t-1} reaches h_t at most halved (the activations' slopes are <= 1).
Rounding errors therefore add up at most linearly over the steps.  Per step and per value the
kernel rounds one dot product of length I + H (+ the bias) and a handful of elementwise
operations (exp/tanh, products, sums: we allow 16 roundings).  Forward:

    |error| <= 2 * T * (I + H + 1 + 16) * eps * max(1, max|state|)

Backward: dL/dh carries the same contraction backwards, and each weight gradient is a sum of
B * T products of those gradients with inputs/states, whose own pre-activation gradients come
from a dot product of length G*H:

    |error| <= 2 * B * T * (I + G*H + H + 16) * eps * max|d_out| * max(1, max|x|, max|state|)
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chalknet
from chalknet import ops, reference
from op_compare import assert_identical, assert_within, central_difference, central_difference_bound

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def make_case(seed, cell, dtype, batch, steps, features, units, use_bias=True, masked=False):
    """Inputs, weights and output gradients of one test case (see the module docstring)."""
    rng = np.random.default_rng(seed)
    width = GATES[cell] * units

    def uniform(shape, scale=1.0):
        return (rng.uniform(-scale, scale, size=shape)).astype(dtype)

    case = {
        "x": uniform((batch, steps, features)),
        "h0": uniform((batch, units)),
        "c0": uniform((batch, units)) if cell == "lstm" else None,
        "kernel": uniform((features, width), 1 / np.sqrt(features)),
        "recurrent_kernel": uniform((units, width), 1 / (2 * units)),
        "bias": None,
        "mask": None,
        "d_outputs": uniform((batch, steps, units)),
        "d_h_final": uniform((batch, units)),
        "d_c_final": uniform((batch, units)) if cell == "lstm" else None,
    }
    if use_bias:
        case["bias"] = uniform((2, width) if cell == "gru" else (width,))
    if masked:
        case["mask"] = rng.random((batch, steps)) < 0.7
    return case


def forward(lib, cell, case, **activations):
    """lib.<cell>(...) -> (outputs, h_T, [c_T,] cache)."""
    args = [case["x"], case["h0"]]
    if cell == "lstm":
        args.append(case["c0"])
    args += [case["kernel"], case["recurrent_kernel"], case["bias"], case["mask"]]
    return getattr(lib, cell)(*args, **activations)


def backward(lib, cell, case, cache):
    finals = [case["d_h_final"]] + ([case["d_c_final"]] if cell == "lstm" else [])
    return getattr(lib, f"{cell}_backward")(case["d_outputs"], *finals, cache)


FORWARD_NAMES = {"simple_rnn": ("outputs", "h_T"), "lstm": ("outputs", "h_T", "c_T"),
                 "gru": ("outputs", "h_T")}
BACKWARD_NAMES = {
    "simple_rnn": ("d_x", "d_h0", "d_kernel", "d_recurrent_kernel", "d_bias"),
    "lstm": ("d_x", "d_h0", "d_c0", "d_kernel", "d_recurrent_kernel", "d_bias"),
    "gru": ("d_x", "d_h0", "d_kernel", "d_recurrent_kernel", "d_bias"),
}
CACHE_NAMES = {"simple_rnn": ("states",), "lstm": ("states", "cells", "gates"),
               "gru": ("states", "gates", "recurrent_h")}


def case_as64(case):
    return {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                else v) for k, v in case.items()}


def check_against_reference(cell, dtype, case, **activations):
    batch, steps, features = case["x"].shape
    units = case["h0"].shape[1]
    eps = np.finfo(dtype).eps
    got = forward(ops, cell, case, **activations)
    want = forward(reference, cell, case_as64(case), **activations)
    state_scale = max(1.0, float(np.max(np.abs(want[-1]["states"]))))
    forward_bound = 2 * steps * (features + units + 1 + 16) * eps * state_scale
    for name, g, w in zip(FORWARD_NAMES[cell], got[:-1], want[:-1], strict=True):
        assert_within(name, g, w, forward_bound, dtype)
    for name in CACHE_NAMES[cell]:
        assert_within(f"cache[{name!r}]", got[-1][name], want[-1][name], forward_bound, dtype)

    got_grads = backward(ops, cell, case, got[-1])
    want_grads = backward(reference, cell, case_as64(case), want[-1])
    width = GATES[cell] * units
    input_scale = max(1.0, float(np.max(np.abs(case["x"]))), state_scale)
    backward_bound = (2 * batch * steps * (features + width + units + 16) * eps
                      * float(np.max(np.abs(case["d_outputs"]))) * input_scale)
    for name, g, w in zip(BACKWARD_NAMES[cell], got_grads, want_grads, strict=True):
        if w is None:
            assert g is None, f"{name}: expected None (no bias), got an array"
            continue
        assert_within(name, g, w, backward_bound, dtype)


ACTIVATION_CHOICES = {
    "simple_rnn": [{"activation": "tanh"}, {"activation": "relu"}],
    "lstm": [{}, {"activation": "relu", "recurrent_activation": "hard_sigmoid"}],
    "gru": [{}, {"activation": "relu", "recurrent_activation": "hard_sigmoid"}],
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cell=st.sampled_from(sorted(GATES)),
    dtype=st.sampled_from([np.float32, np.float64]),
    batch=st.integers(1, 4), steps=st.integers(1, 7), features=st.integers(1, 5),
    units=st.integers(1, 6), use_bias=st.booleans(), masked=st.booleans(),
    activation_choice=st.integers(0, 1), seed=st.integers(0, 2**16),
)
def test_ops_match_reference(cell, dtype, batch, steps, features, units, use_bias, masked,
                             activation_choice, seed):
    case = make_case(seed, cell, dtype, batch, steps, features, units, use_bias, masked)
    check_against_reference(cell, dtype, case, **ACTIVATION_CHOICES[cell][activation_choice])


@pytest.mark.parametrize("cell", sorted(GATES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 1, 3, 4), (1, 9, 1, 2), (3, 4, 17, 33)])
def test_edge_shapes_match_reference(cell, dtype, shape):
    case = make_case(3, cell, dtype, *shape, masked=True)
    check_against_reference(cell, dtype, case)


def test_all_steps_masked_carries_the_initial_state():
    case = make_case(4, "lstm", np.float64, 2, 3, 2, 3)
    case["mask"] = np.zeros((2, 3), dtype=bool)
    outputs, h_final, c_final, cache = forward(ops, "lstm", case)
    np.testing.assert_array_equal(outputs, 0)
    np.testing.assert_array_equal(h_final, case["h0"])
    np.testing.assert_array_equal(c_final, case["c0"])
    d_x, d_h0, d_c0, d_kernel, _, _ = backward(ops, "lstm", case, cache)
    np.testing.assert_array_equal(d_x, 0)
    np.testing.assert_array_equal(d_kernel, 0)
    np.testing.assert_array_equal(d_h0, case["d_h_final"])  # the final state *is* h0
    np.testing.assert_array_equal(d_c0, case["d_c_final"])


# ----- hand-computed cases --------------------------------------------------------------------


@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
def test_linear_simple_rnn_by_hand(lib):
    # h_t = 2 x_t + 0.5 h_{t-1} + 1 with h0 = 0, x = 1, 2, 3:  3, 6.5, 10.25.
    # With the middle step masked: 3, (3 carried, output 0), 2*3 + 1.5 + 1 = 8.5.
    x = np.array([[[1.0], [2.0], [3.0]]])
    args = (x, np.zeros((1, 1)), np.array([[2.0]]), np.array([[0.5]]), np.array([1.0]))
    outputs, h_final, _ = lib.simple_rnn(*args, activation="linear")
    np.testing.assert_array_equal(outputs[0, :, 0], [3.0, 6.5, 10.25])
    outputs, h_final, _ = lib.simple_rnn(*args, mask=np.array([[1, 0, 1]]), activation="linear")
    np.testing.assert_array_equal(outputs[0, :, 0], [3.0, 0.0, 8.5])
    assert h_final[0, 0] == 8.5


@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
def test_zero_weight_gates_by_hand(lib):
    # All weights zero: every sigmoid gate is 1/2 and every candidate tanh(0) = 0.
    # LSTM: c_t = c_{t-1} / 2, h_t = tanh(c_t) / 2;  GRU: h_t = h_{t-1} / 2.
    x = np.ones((1, 2, 1))
    one = np.ones((1, 1))
    outputs, _, c_final, _ = lib.lstm(x, one, one, np.zeros((1, 4)), np.zeros((1, 4)))
    np.testing.assert_allclose(outputs[0, :, 0], [np.tanh(0.5) / 2, np.tanh(0.25) / 2],
                               rtol=0, atol=2e-16)
    assert c_final[0, 0] == 0.25
    outputs, _, _ = lib.gru(x, one, np.zeros((1, 3)), np.zeros((1, 3)))
    np.testing.assert_array_equal(outputs[0, :, 0], [0.5, 0.25])


# ----- finite differences (float64) -----------------------------------------------------------


@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
@pytest.mark.parametrize("cell", sorted(GATES))
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_backward_matches_finite_differences(lib, cell, masked):
    case = make_case(21, cell, np.float64, 2, 4, 3, 3, masked=masked)
    if masked:
        case["mask"][0] = [True, False, True, False]  # a gap inside and a masked last step

    def loss_terms():
        result = forward(lib, cell, case)
        terms = [(result[0] * case["d_outputs"]).ravel(),
                 (result[1] * case["d_h_final"]).ravel()]
        if cell == "lstm":
            terms.append((result[2] * case["d_c_final"]).ravel())
        return np.concatenate(terms)

    def loss():
        return float(loss_terms().sum())

    grads = backward(lib, cell, case, forward(lib, cell, case)[-1])
    wrt = ["x", "h0"] + (["c0"] if cell == "lstm" else []) + \
          ["kernel", "recurrent_kernel", "bias"]
    # Central differences with step 1e-6: rounding of the two loss sums (the helper's bound)
    # plus a truncation error step^2/6 * |third derivative|, at most 1 per loss term here
    # (smooth activations with bounded derivatives, |weights| <= 1, contracting steps).
    step = 1e-6
    terms = loss_terms()
    bound = central_difference_bound(terms, step) + step**2 * terms.size
    for name, got, key in zip(BACKWARD_NAMES[cell], grads, wrt, strict=True):
        numeric = central_difference(loss, case[key], step)
        assert_within(name, got, numeric, bound, np.float64)


# ----- threads, dtypes, errors ----------------------------------------------------------------


@pytest.mark.parametrize("isa", ops.available_isas())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell, units", [("simple_rnn", 520), ("lstm", 130), ("gru", 175)])
def test_results_do_not_depend_on_thread_count(cell, units, dtype, isa):
    # A step's product, batch x units x (gates * units), is >= 2^18 multiply-adds, so with 2
    # threads the step loop is split by units (unit counts that are not whole blocks of 16).
    case = make_case(5, cell, dtype, 16, 5, 20, units, masked=True)
    saved = chalknet.get_num_threads(), chalknet.build_info()["simd"]
    ops._set_isa(isa)

    def run():
        result = forward(ops, cell, case)
        return (*result[:-1], *backward(ops, cell, case, result[-1]))

    try:
        chalknet.set_num_threads(1)
        one = run()
        chalknet.set_num_threads(2)
        two = run()
    finally:
        chalknet.set_num_threads(saved[0])
        ops._set_isa(saved[1])
    names = FORWARD_NAMES[cell] + BACKWARD_NAMES[cell]
    for name, a, b in zip(names, one, two, strict=True):
        assert_identical(name, a, b, dtype)


def test_a_smaller_team_than_asked_for_gives_the_same_results(under_thread_limits):
    # OMP_THREAD_LIMIT=1: the step loop is cut for 2 threads but runs on one, which then takes
    # every share of the units in turn; outputs and gradients must not change.
    one, two = under_thread_limits(
        "import sys, numpy as np, chalknet; sys.path.insert(0, sys.argv[2]); import test_rnn as t;"
        "case = t.make_case(5, 'lstm', np.float32, 16, 5, 20, 130, masked=True);"
        "chalknet.set_num_threads(2); result = t.forward(t.ops, 'lstm', case);"
        "np.savez(sys.argv[1], *result[:-1], *t.backward(t.ops, 'lstm', case, result[-1]))"
    )
    names = FORWARD_NAMES["lstm"] + BACKWARD_NAMES["lstm"]
    for name, a, b in zip(names, one, two, strict=True):
        assert_identical(name, a, b, np.float32)


def test_dtype_follows_x_and_weights_are_converted():
    case = make_case(6, "gru", np.float64, 2, 3, 2, 2)
    outputs, _, cache = ops.gru(case["x"].astype(np.float32), case["h0"], case["kernel"],
                                case["recurrent_kernel"], case["bias"])
    assert outputs.dtype == np.float32 and cache["kernel"].dtype == np.float32
    outputs, _, _ = ops.gru(case["x"], case["h0"], case["kernel"], case["recurrent_kernel"])
    assert outputs.dtype == np.float64
    assert ops.simple_rnn(np.ones((1, 2, 1), np.int64), np.zeros((1, 1)), np.ones((1, 1)),
                          np.ones((1, 1)))[0].dtype == np.float32


def _lstm(x=(2, 3, 4), h0=(2, 5), c0=(2, 5), kernel=(4, 20), recurrent=(5, 20), bias=(20,),
          mask=None):
    return lambda: ops.lstm(np.zeros(x), np.zeros(h0), np.zeros(c0), np.zeros(kernel),
                            np.zeros(recurrent), None if bias is None else np.zeros(bias),
                            None if mask is None else np.ones(mask))


@pytest.mark.parametrize(
    "call, message",
    [
        (_lstm(x=(2, 3)), r"ops.lstm: x must be 3-D \(batch, time, features\), got shape \(2, 3\)"),
        (_lstm(x=(2, 0, 4)), r"ops.lstm: x must have batch, time and features >= 1, "
                             r"got \(2, 0, 4\)"),
        (_lstm(recurrent=(5, 15)), r"ops.lstm: recurrent_kernel must have shape "
                                   r"\(units, 4 \* units\), got \(5, 15\)"),
        (_lstm(kernel=(3, 20)), r"ops.lstm: kernel must have shape \(4, 20\) "
                                r"\(features of x, 4 \* units\), got \(3, 20\)"),
        (_lstm(c0=(2, 4)), r"ops.lstm: c0 must have shape \(2, 5\) \(batch, units\), "
                           r"got \(2, 4\)"),
        (_lstm(bias=(2, 20)), r"ops.lstm: bias must have shape \(20,\), got \(2, 20\)"),
        (_lstm(mask=(3, 2)), r"ops.lstm: mask must have shape \(2, 3\) \(batch, time\), "
                             r"got \(3, 2\)"),
        (lambda: ops.gru(np.zeros((1, 2, 1)), np.zeros((1, 1)), np.zeros((1, 3)),
                         np.zeros((1, 3)), np.zeros(3)),
         r"ops.gru: bias must have shape \(2, 3\), got \(3,\)"),
        (lambda: ops.simple_rnn(np.zeros((1, 2, 1)), np.zeros((1, 1)), np.zeros((1, 1)),
                                np.zeros((1, 1)), activation="softmax"),
         r"ops.simple_rnn: activation must be one of \['hard_sigmoid', 'linear', 'relu', "
         r"'sigmoid', 'tanh'\], got 'softmax'"),
    ],
)
def test_errors_name_op_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_errors_name_op_and_shapes():
    case = make_case(7, "simple_rnn", np.float64, 2, 3, 2, 4)
    _, _, cache = forward(ops, "simple_rnn", case)
    with pytest.raises(ValueError, match=r"ops.simple_rnn_backward: d_outputs must have shape "
                                         r"\(2, 3, 4\) like the outputs, got \(2, 3, 3\)"):
        ops.simple_rnn_backward(np.zeros((2, 3, 3)), None, cache)
    with pytest.raises(ValueError, match=r"ops.simple_rnn_backward: d_h_final must have shape "
                                         r"\(2, 4\), got \(4,\)"):
        ops.simple_rnn_backward(np.zeros((2, 3, 4)), np.zeros(4), cache)


def test_complex_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"ops.gru: x must be a real float or integer array"):
        ops.gru(np.zeros((1, 1, 1), np.complex64), np.zeros((1, 1)), np.zeros((1, 3)),
                np.zeros((1, 3)))


def test_direct_binding_calls_are_checked():
    # The bindings check again, so a wrong call into _core raises instead of crashing.
    from chalknet import _core

    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"ops.lstm: c0 must have shape \(2, 5\), got \(1, 5\)"):
        _core.lstm_forward(x, np.zeros((2, 5)), np.zeros((1, 5)), np.zeros((4, 20)),
                           np.zeros((5, 20)), None, None, "tanh", "sigmoid")
    with pytest.raises(TypeError, match=r"ops.gru: h0 must have dtype float64, got float32"):
        _core.gru_forward(x, np.zeros((2, 5), np.float32), None, np.zeros((4, 15)),
                          np.zeros((5, 15)), None, None, "tanh", "sigmoid")
    with pytest.raises(ValueError, match=r"ops.gru_backward: gates must have shape"):
        _core.gru_backward(np.zeros((2, 3, 5)), None, None, x, np.zeros((2, 5)), None,
                           np.zeros((4, 15)), np.zeros((5, 15)), False, np.zeros((2, 3, 5)),
                           np.zeros((2, 3, 5)), np.zeros((2, 3, 5)), None, "tanh", "sigmoid")
    with pytest.raises(ValueError, match=r"ops.simple_rnn: mask must have shape \(2, 3\)"):
        _core.simple_rnn_forward(x, np.zeros((2, 5)), None, np.zeros((4, 5)), np.zeros((5, 5)),
                                 None, np.ones((3, 2), np.uint8), "tanh", "sigmoid")


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_gate_build_matches_the_reference(isa):
    # The float gate loops (sigmoid, tanh, and the fused LSTM/GRU rows of the forward and
    # backward steps) are compiled once per instruction set and chosen when first used, so each
    # build runs in its own process (CHALKNET_ISA lowers the choice; on a CPU without the set
    # the best available build runs, which is checked all the same).  The check there is
    # check_against_reference: outputs, caches and every gradient, with and without biases.
    script = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]);"
        "import test_rnn as t;"
        "[t.check_against_reference(cell, np.float32, t.make_case("
        "8, cell, np.float32, 3, 6, 5, 33, use_bias, masked=True))"
        " for cell in sorted(t.GATES) for use_bias in (True, False)]"
    )
    env = {**os.environ, "CHALKNET_ISA": isa}
    result = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{isa} build:\n{result.stderr}"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_saturated_and_nan_inputs(cell):
    # Pre-activations far outside the range of exp (the float gate loops clamp them) saturate
    # the gates as in the float64 reference (a few roundings per step, 3 steps: 64 eps); a NaN
    # input stays NaN in its own row only.
    case = make_case(12, cell, np.float32, 2, 3, 2, 4)
    case["x"][0] = np.array([[1e30, -1e30], [-1e30, 1e30], [80.0, -90.0]], np.float32)
    got = forward(ops, cell, case)[0]
    with np.errstate(over="ignore"):
        want = forward(reference, cell, case_as64(case))[0]
    assert_within("outputs", got, want, 64 * np.finfo(np.float32).eps, np.float32)
    case["x"][1, 1, 0] = np.nan
    got = forward(ops, cell, case)[0]
    assert np.isnan(got[1, 1:]).all() and np.isfinite(got[1, 0]).all()
    assert np.isfinite(got[0]).all()
