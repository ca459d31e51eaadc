"""ops.relu_backward (one branch-free pass in C++) against reference.relu_backward
(np.where(x > 0, d_output, 0)): a selection, so the two must agree bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalknet import activations, ops, reference
from op_compare import assert_identical, run_on_threads


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=4),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_matches_reference(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=shape).astype(dtype)  # many exact zeros: the kink gets 0
    d_output = rng.standard_normal(shape).astype(dtype)
    assert_identical("d_input", ops.relu_backward(d_output, x),
                     reference.relu_backward(d_output, x), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_values_are_selected_not_multiplied(dtype):
    x = np.array([-1.0, 2.0, -3.0, 0.0, np.nan, -0.0, np.inf, 4.0], dtype=dtype)
    d_output = np.array([np.inf, np.nan, np.nan, 5.0, 1.0, 1.0, 7.0, -np.inf], dtype=dtype)
    got = ops.relu_backward(d_output, x)
    assert_identical("d_input", got, np.array([0, np.nan, 0, 0, 0, 0, 7, -np.inf], dtype=dtype),
                     dtype)
    assert not np.signbit(got[[0, 2, 3, 4, 5]]).any()  # +0, never -0 or NaN, where x <= 0


def test_large_arrays_identical_for_one_and_two_threads():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(300_001).astype(np.float32)  # several parallel chunks, odd size
    d_output = rng.standard_normal(x.shape).astype(np.float32)
    one, two = (run_on_threads(lambda: ops.relu_backward(d_output, x), t) for t in (1, 2))
    assert_identical("1 vs 2 threads", one, two, np.float32)
    assert_identical("d_input", one, reference.relu_backward(d_output, x), np.float32)


def test_dtype_follows_d_output_and_layouts_are_converted():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6))
    d_output = rng.standard_normal((6, 5)).astype(np.float32).T  # Fortran order
    got = ops.relu_backward(d_output, x)
    assert got.dtype == np.float32
    assert_identical("d_input", got, reference.relu_backward(d_output, x.astype(np.float32)),
                     np.float32)


def test_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"ops.relu_backward: d_output must have the shape of "
                                         r"x \(2, 3\), got \(3, 2\)"):
        ops.relu_backward(np.ones((3, 2)), np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"ops\.relu_backward: d_output must be a real"):
        ops.relu_backward(np.ones(3, dtype=complex), np.ones(3))


def test_relu_activation_backward_uses_it_and_keeps_other_dtypes():
    x = np.array([-1.0, 0.5, 2.0], dtype=np.float32)
    d_output = np.array([3.0, 4.0, np.inf], dtype=np.float32)
    assert_identical("relu backward", activations.relu.backward(x, None, d_output),
                     np.array([0.0, 4.0, np.inf], dtype=np.float32), np.float32)
    ints = activations.relu.backward(np.array([-1, 2]), None, np.array([5, 6]))
    assert ints.dtype.kind == "i" and ints.tolist() == [0, 6]
