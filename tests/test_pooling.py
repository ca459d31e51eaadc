"""Max / average / global pooling ops against the NumPy reference and finite differences.

Max pooling is compared exactly (values and gradient routing, ties included); average pooling
within (window size) * eps * max|x| (a sum of at most PH*PW terms, then a division).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chalknet
from chalknet import ops, reference
from chalknet.reference.conv2d import conv_geometry
from op_compare import (
    assert_identical,
    assert_within,
    central_difference,
    central_difference_bound,
    reduction_bound,
)


def pool_input(rng, dtype, shape, ties):
    """Random values; with ``ties`` drawn from a few levels so windows hold equal maxima."""
    if ties:
        return rng.integers(-2, 3, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check_pool_against_reference(dtype, x, pool_size, strides, padding):
    y = ops.max_pool2d(x, pool_size, strides, padding)
    want_y = reference.max_pool2d(x, pool_size, strides, padding)
    assert_identical("max y", y, want_y, dtype)
    d_output = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    assert_identical("max d_input", ops.max_pool2d_backward(d_output, x, pool_size, strides,
                                                            padding),
                     reference.max_pool2d_backward(d_output, x, pool_size, strides, padding),
                     dtype)
    check_argmax_pooling(x, d_output, pool_size, strides, padding)
    window = np.prod(np.broadcast_to(pool_size, (2,)))
    x64, d64 = x.astype(np.float64), d_output.astype(np.float64)
    assert_within("avg y", ops.avg_pool2d(x, pool_size, strides, padding),
                  reference.avg_pool2d(x64, pool_size, strides, padding),
                  reduction_bound(window + 1, dtype, x), dtype)
    # Each input pixel gathers at most ceil(PH/SH)*ceil(PW/SW) <= PH*PW window shares.
    assert_within("avg d_input", ops.avg_pool2d_backward(d_output, x.shape, pool_size, strides,
                                                         padding),
                  reference.avg_pool2d_backward(d64, x.shape, pool_size, strides, padding),
                  reduction_bound(window + 1, dtype, d_output), dtype)


def check_argmax_pooling(x, d_output, pool_size, strides, padding):
    """The argmax pair (what MaxPooling2D runs) against its twins and against the pair that
    reads x: the same y, and the same d_input exactly."""
    dtype = x.dtype
    y, argmax = ops.max_pool2d_with_argmax(x, pool_size, strides, padding)
    want_y, want_argmax = reference.max_pool2d_with_argmax(x, pool_size, strides, padding)
    assert_identical("argmax y", y, want_y, dtype)
    assert_identical("argmax", argmax, want_argmax, np.int32)
    d_input = ops.max_pool2d_backward_argmax(d_output, argmax, x.shape, pool_size, strides,
                                             padding)
    assert_identical("d_input from argmax", d_input,
                     reference.max_pool2d_backward_argmax(d_output, want_argmax, x.shape,
                                                          pool_size, strides, padding), dtype)
    assert_identical("d_input from argmax vs from x", d_input,
                     ops.max_pool2d_backward(d_output, x, pool_size, strides, padding), dtype)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 9),
    pool=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    strides=st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))),
    padding=st.sampled_from(["valid", "same"]), ties=st.booleans(), seed=st.integers(0, 2**16),
)
def test_pooling_matches_reference(dtype, n, h, w, c, pool, strides, padding, ties, seed):
    _, _, _, (oh, ow) = conv_geometry((n, h, w, c), pool, strides or pool, padding, 1)
    assume(oh >= 1 and ow >= 1)
    x = pool_input(np.random.default_rng(seed), dtype, (n, h, w, c), ties)
    check_pool_against_reference(dtype, x, pool, strides, padding)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, pool, strides, padding",
    [
        ((1, 1, 1, 1), 1, None, "valid"),      # 1x1 image
        ((64, 28, 28, 32), 2, None, "valid"),  # the benchmark workload
        ((2, 7, 7, 3), 3, 1, "same"),          # overlapping windows
        ((2, 9, 8, 5), 2, 4, "valid"),         # stride larger than the window
        ((3, 5, 6, 17), (3, 2), (2, 1), "same"),  # non-square, odd channel count
    ],
)
def test_pooling_edge_shapes(dtype, shape, pool, strides, padding):
    x = pool_input(np.random.default_rng(2), dtype, shape, ties=True)
    check_pool_against_reference(dtype, x, pool, strides, padding)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pool, strides, padding", [
    ((4, 28, 28, 32), 2, None, "valid"),        # whole vectors of every width
    ((2, 9, 8, 37), 3, 2, "same"),              # overlapping windows, a partial vector
    ((3, 5, 6, 17), (3, 2), (2, 1), "same"),
])
def test_every_instruction_set(isa, dtype, shape, pool, strides, padding):
    """The pooling loops are built once per instruction set (pool_impl.h): each build, ties
    and a NaN included, against the reference."""
    x = pool_input(np.random.default_rng(4), dtype, shape, ties=True)
    check_pool_against_reference(dtype, x, pool, strides, padding)
    x[0, 1, 1, 3] = np.nan
    assert_identical("max y with a NaN", ops.max_pool2d(x, pool, strides, padding),
                     reference.max_pool2d(x, pool, strides, padding), dtype)


def test_max_pool_tie_goes_to_first_maximum():
    # One 2x2 window holding [[1, 3], [3, 0]]: the 3 at (0, 1) is first in row order.
    x = np.array([[1.0, 3.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    d_input = ops.max_pool2d_backward(np.array([[[[5.0]]]]), x, 2)
    np.testing.assert_array_equal(d_input[0, :, :, 0], [[0.0, 5.0], [0.0, 0.0]])


def test_max_pool_nan_propagates():
    x = np.array([[1.0, np.nan], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    assert np.isnan(ops.max_pool2d(x, 2)[0, 0, 0, 0])
    d_input = ops.max_pool2d_backward(np.ones((1, 1, 1, 1)), x, 2)
    np.testing.assert_array_equal(d_input[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pool, strides, padding", [
    ((2, 8, 8, 19), 2, None, "valid"),       # disjoint windows: d_input written once
    ((2, 9, 9, 5), 2, 3, "same"),            # gaps between windows
    ((2, 7, 7, 3), 3, 1, "same"),            # overlapping windows: cleared, then added
])
def test_argmax_naming_no_pixel_of_its_window_routes_nothing(dtype, shape, pool, strides,
                                                              padding):
    """argmax comes from the user: values outside the window (negative, past the image, in a
    neighbour window) must route nothing and never be used as an address."""
    rng = np.random.default_rng(12)
    x = pool_input(rng, dtype, shape, ties=False)
    _, argmax = ops.max_pool2d_with_argmax(x, pool, strides, padding)
    pixels = shape[1] * shape[2]
    argmax[rng.random(argmax.shape) < 0.5] = rng.integers(-2**31, 2**31 - 1, dtype=np.int32)
    argmax.flat[::7] = rng.integers(-3, pixels + 3, size=argmax.flat[::7].shape)
    d_output = rng.standard_normal(argmax.shape).astype(dtype)
    assert_identical("d_input from a doctored argmax",
                     ops.max_pool2d_backward_argmax(d_output, argmax, shape, pool, strides,
                                                    padding),
                     reference.max_pool2d_backward_argmax(d_output, argmax, shape, pool, strides,
                                                          padding), dtype)


def test_argmax_of_other_integer_types_is_accepted():
    """torch's indices are int64: they are taken as int32, and values int32 cannot hold name no
    pixel."""
    x = np.array([[1.0, 3.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    _, argmax = ops.max_pool2d_with_argmax(x, 2)
    assert argmax.dtype == np.int32 and argmax[0, 0, 0, 0] == 1
    d_output = np.array([[[[5.0]]]])
    for indices in (argmax.astype(np.int64), argmax.astype(np.uint8)):
        d_input = ops.max_pool2d_backward_argmax(d_output, indices, x.shape, 2)
        np.testing.assert_array_equal(d_input[0, :, :, 0], [[0.0, 5.0], [0.0, 0.0]])
    far = np.full((1, 1, 1, 1), 2**32 + 1, dtype=np.int64)  # would wrap to 1 as int32
    assert not ops.max_pool2d_backward_argmax(d_output, far, x.shape, 2).any()


def test_same_average_pool_divides_by_pixels_inside():
    # 3x3 ones, 2x2 windows, stride 2, "same": windows hold 4, 2, 2 and 1 pixels; the mean is 1.
    y = ops.avg_pool2d(np.ones((1, 3, 3, 1)), 2, 2, "same")
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))
    d_input = ops.avg_pool2d_backward(np.ones((1, 2, 2, 1)), (1, 3, 3, 1), 2, 2, "same")
    want = np.array([[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])
    np.testing.assert_array_equal(d_input[0, :, :, 0], want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_pooling_matches_reference(dtype):
    rng = np.random.default_rng(4)
    x = pool_input(rng, dtype, (3, 5, 7, 6), ties=True)
    d_output = rng.standard_normal((3, 6)).astype(dtype)
    assert_identical("global max y", ops.global_max_pool2d(x), reference.global_max_pool2d(x),
                     dtype)
    assert_identical("global max d_input", ops.global_max_pool2d_backward(d_output, x),
                     reference.global_max_pool2d_backward(d_output, x), dtype)
    assert_within("global avg y", ops.global_avg_pool2d(x),
                  reference.global_avg_pool2d(x.astype(np.float64)),
                  reduction_bound(35 + 1, dtype, x), dtype)
    assert_within("global avg d_input", ops.global_avg_pool2d_backward(d_output, x.shape),
                  reference.global_avg_pool2d_backward(d_output.astype(np.float64), x.shape),
                  reduction_bound(2, dtype, d_output), dtype)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool, strides, padding", [(2, None, "valid"), (3, 2, "same"),
                                                    ((2, 3), 1, "valid")])
def test_pooling_gradients_by_finite_differences(kind, pool, strides, padding):
    rng = np.random.default_rng(9)
    x = rng.permutation(2 * 5 * 6 * 3).reshape(2, 5, 6, 3) / 180.0  # distinct values: no ties
    forward = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    weights = rng.standard_normal(forward(x, pool, strides, padding).shape)

    def loss():
        return float(np.sum(weights * forward(x, pool, strides, padding)))

    if kind == "max":
        got = ops.max_pool2d_backward(weights, x, pool, strides, padding)
    else:
        got = ops.avg_pool2d_backward(weights, x.shape, pool, strides, padding)
    # step 1e-6 is far below the gap between distinct values (1/180), so no maximum moves.
    bound = central_difference_bound(weights * forward(x, pool, strides, padding))
    np.testing.assert_allclose(got, central_difference(loss, x), rtol=0, atol=bound)


def test_pool_backward_does_not_depend_on_thread_count():
    rng = np.random.default_rng(6)
    x = pool_input(rng, np.float32, (4, 11, 11, 6), ties=True)
    d_output = rng.standard_normal((4, 11, 11, 6)).astype(np.float32)
    saved = chalknet.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            chalknet.set_num_threads(threads)
            _, argmax = ops.max_pool2d_with_argmax(x, 3, 1, "same")
            results.append((ops.max_pool2d_backward(d_output, x, 3, 1, "same"),
                            ops.avg_pool2d_backward(d_output, x.shape, 3, 1, "same"),
                            ops.max_pool2d_backward_argmax(d_output, argmax, x.shape, 3, 1,
                                                           "same")))
    finally:
        chalknet.set_num_threads(saved)
    assert_identical("max d_input", results[0][0], results[1][0], np.float32)
    assert_identical("avg d_input", results[0][1], results[1][1], np.float32)
    assert_identical("max d_input from argmax", results[0][2], results[1][2], np.float32)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ops.max_pool2d(np.zeros((4, 4, 1)), 2),
         r"ops.max_pool2d: x must be 4-D \(batch, height, width, channels\), "
         r"got shape \(4, 4, 1\)"),
        (lambda: ops.max_pool2d(np.zeros((1, 1, 4, 1)), 2),
         r"ops.max_pool2d: input height 1 \(padded 1\) is smaller than the window 2"),
        (lambda: ops.max_pool2d_backward(np.zeros((1, 3, 2, 1)), np.zeros((1, 4, 4, 1)), 2),
         r"ops.max_pool2d_backward: d_output must have shape \(1, 2, 2, 1\), got \(1, 3, 2, 1\)"),
        (lambda: ops.avg_pool2d_backward(np.zeros((1, 2, 2, 1)), (1, 4, 4), 2),
         r"ops.avg_pool2d_backward: input_shape must be \(batch, height, width, channels\)"),
        (lambda: ops.global_avg_pool2d_backward(np.zeros((2, 3)), (2, 4, 4, 1)),
         r"ops.global_avg_pool2d_backward: d_output must have shape \(2, 1\), got \(2, 3\)"),
        (lambda: ops.max_pool2d_backward_argmax(np.zeros((1, 2, 2, 1)),
                                                np.zeros((1, 2, 3, 1), np.int32), (1, 4, 4, 1)),
         r"ops.max_pool2d_backward_argmax: argmax must have shape \(1, 2, 2, 1\), "
         r"got \(1, 2, 3, 1\)"),
        (lambda: ops.avg_pool2d(np.zeros((1, 4, 4, 1)), 0),
         r"ops.avg_pool2d: pool_size must be >= 1, got \(0, 0\)"),
    ],
)
def test_pool_errors_name_op_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_float_argmax_is_refused_with_its_dtype():
    with pytest.raises(TypeError, match=r"ops.max_pool2d_backward_argmax: argmax must hold "
                                        r"integers \(int32\), got dtype float64"):
        ops.max_pool2d_backward_argmax(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1)),
                                       (1, 2, 2, 1), 2)
