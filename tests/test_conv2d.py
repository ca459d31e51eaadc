"""ops.conv2d and its backward passes against the NumPy reference and finite differences.

Tolerances: a float32 kernel is compared with the float64 reference on the same (float32)
inputs, bounded by (reduction length) * eps * max|a| * max|b| for each reduction:
forward K = KH*KW*C (+ the bias), backward-input KH*KW*F terms per pixel, backward-kernel
and bias the N*OH*OW output pixels.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
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


def conv_case(rng, dtype, n, h, w, c, kh, kw, f):
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    return x, kernel, bias


def check_conv_against_reference(dtype, x, kernel, bias, strides, padding, dilation):
    """Forward, backward-input, backward-kernel and bias each compared with the reference."""
    kh, kw, c, f = kernel.shape
    as64 = [a.astype(np.float64) for a in (x, kernel, bias)]
    want_y = reference.conv2d(*as64, strides, padding, dilation)
    got_y = ops.conv2d(x, kernel, bias, strides, padding, dilation)
    bound = reduction_bound(kh * kw * c, dtype, x, kernel) + reduction_bound(1, dtype, bias) * 2
    assert_within("y", got_y, want_y, bound, dtype)

    d_output = np.random.default_rng(7).standard_normal(want_y.shape).astype(dtype)
    d64 = d_output.astype(np.float64)
    want_dx = reference.conv2d_backward_input(d64, as64[1], x.shape, strides, padding, dilation)
    got_dx = ops.conv2d_backward_input(d_output, kernel, x.shape, strides, padding, dilation)
    assert_within("d_input", got_dx, want_dx, reduction_bound(kh * kw * f, dtype, d_output, kernel),
                  dtype)

    want_dk, want_db = reference.conv2d_backward_kernel(d64, as64[0], (kh, kw), strides, padding,
                                                        dilation)
    got_dk, got_db = ops.conv2d_backward_kernel(d_output, x, (kh, kw), strides, padding, dilation)
    pixels = d_output.shape[0] * d_output.shape[1] * d_output.shape[2]
    assert_within("d_kernel", got_dk, want_dk, reduction_bound(pixels, dtype, d_output, x), dtype)
    assert_within("d_bias", got_db, want_db, reduction_bound(pixels, dtype, d_output), dtype)


paddings = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 2),
    st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
              st.tuples(st.integers(0, 2), st.integers(0, 2))),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 5),
    kh=st.integers(1, 4), kw=st.integers(1, 4), f=st.integers(1, 5),
    strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=paddings, seed=st.integers(0, 2**16),
)
def test_conv2d_matches_reference(dtype, n, h, w, c, kh, kw, f, strides, dilation, padding, seed):
    _, _, _, (oh, ow) = conv_geometry((n, h, w, c), (kh, kw), strides, padding, dilation)
    assume(oh >= 1 and ow >= 1)
    x, kernel, bias = conv_case(np.random.default_rng(seed), dtype, n, h, w, c, kh, kw, f)
    check_conv_against_reference(dtype, x, kernel, bias, strides, padding, dilation)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "n, h, w, c, kh, kw, f, strides, padding, dilation",
    [
        (1, 1, 1, 1, 1, 1, 1, 1, "valid", 1),           # 1x1 image, 1x1 kernel
        (2, 5, 5, 3, 1, 1, 4, 1, "valid", 1),           # 1x1 kernel: x is the patch matrix
        (2, 5, 5, 3, 1, 1, 4, 2, "same", 1),            # 1x1 kernel with stride
        (2, 7, 9, 3, 2, 2, 3, 3, "valid", 1),           # stride larger than the kernel
        (1, 12, 10, 17, 3, 3, 19, 1, "same", 1),        # channels not a multiple of the SIMD width
        (1, 11, 13, 2, 5, 1, 3, (2, 1), "same", (1, 3)),  # non-square kernel, stride, dilation
        (4, 20, 20, 37, 3, 3, 5, 1, "same", 1),         # several patch tiles, cut inside images
        (80, 20, 20, 1, 3, 3, 3, 1, "same", 1),         # tiles spanning many images, C = 1
        (3, 8, 8, 4, 8, 8, 2, 1, "valid", 1),           # kernel as large as the image
    ],
)
def test_conv2d_edge_shapes(dtype, n, h, w, c, kh, kw, f, strides, padding, dilation):
    x, kernel, bias = conv_case(np.random.default_rng(3), dtype, n, h, w, c, kh, kw, f)
    check_conv_against_reference(dtype, x, kernel, bias, strides, padding, dilation)


def test_same_padding_follows_tensorflow():
    # 4x4 image of ones, 2x2 kernel of ones, stride 1, "same": the extra column/row of padding
    # goes right/bottom, so the last row and column see only half a window (computed by hand).
    y = ops.conv2d(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)), padding="same")[0, :, :, 0]
    want = np.array([[4, 4, 4, 2], [4, 4, 4, 2], [4, 4, 4, 2], [2, 2, 2, 1]], dtype=np.float64)
    np.testing.assert_array_equal(y, want)


def test_hand_computed_stride_and_dilation():
    # x[0, i, j, 0] = 10*i + j on a 5x5 image; a 2x2 kernel of ones with dilation 2 has taps at
    # (0,0), (0,2), (2,0), (2,2); stride 2, valid: y[a, b] = x[2a, 2b] + x[2a, 2b+2]
    # + x[2a+2, 2b] + x[2a+2, 2b+2] = 40a + 4b + 44.
    x = (10 * np.arange(5)[:, None] + np.arange(5)[None, :]).astype(np.float64)
    y = ops.conv2d(x[None, :, :, None], np.ones((2, 2, 1, 1)), strides=2, dilation_rate=2)
    want = np.array([[44.0, 52.0], [124.0, 132.0]])
    np.testing.assert_array_equal(y[0, :, :, 0], want)


@pytest.mark.parametrize("padding, strides, dilation", [("same", 1, 1), ("valid", 2, 1),
                                                        (((0, 2), (1, 0)), (1, 2), (2, 1))])
def test_conv2d_gradients_by_finite_differences(padding, strides, dilation):
    rng = np.random.default_rng(11)
    x, kernel, bias = conv_case(rng, np.float64, 2, 6, 5, 3, 3, 2, 2)
    y = ops.conv2d(x, kernel, bias, strides, padding, dilation)
    weights = rng.standard_normal(y.shape)  # L = sum(weights * y), so dL/dy = weights

    def loss():
        return float(np.sum(weights * ops.conv2d(x, kernel, bias, strides, padding, dilation)))

    d_input = ops.conv2d_backward_input(weights, kernel, x.shape, strides, padding, dilation)
    d_kernel, d_bias = ops.conv2d_backward_kernel(weights, x, (3, 2), strides, padding, dilation)
    # The loss is linear in each argument: only rounding, no truncation error.
    bound = central_difference_bound(weights * y)
    for name, got, wrt in (("d_input", d_input, x), ("d_kernel", d_kernel, kernel),
                           ("d_bias", d_bias, bias)):
        numeric = central_difference(loss, wrt)
        np.testing.assert_allclose(got, numeric, rtol=0, atol=bound, err_msg=name)


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(5)
    x, kernel, bias = conv_case(rng, np.float32, 6, 15, 15, 7, 3, 3, 9)
    d_output = rng.standard_normal((6, 15, 15, 9)).astype(np.float32)
    saved = chalknet.get_num_threads()

    def run():
        return (ops.conv2d(x, kernel, bias, 1, "same"),
                ops.conv2d_backward_input(d_output, kernel, x.shape, 1, "same"),
                *ops.conv2d_backward_kernel(d_output, x, (3, 3), 1, "same"))

    try:
        chalknet.set_num_threads(1)
        one = run()
        chalknet.set_num_threads(2)
        two = run()
    finally:
        chalknet.set_num_threads(saved)
    for name, a, b in zip(("y", "d_input", "d_kernel", "d_bias"), one, two, strict=True):
        assert_identical(name, a, b, np.float32)


def test_dtype_follows_x_and_integers_become_float32():
    kernel = np.ones((1, 1, 1, 1))
    assert ops.conv2d(np.ones((1, 2, 2, 1), np.float64), kernel).dtype == np.float64
    assert ops.conv2d(np.ones((1, 2, 2, 1), np.float32), kernel).dtype == np.float32
    assert ops.conv2d(np.ones((1, 2, 2, 1), np.int64), kernel).dtype == np.float32


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ops.conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 4))),
         r"ops.conv2d: kernel expects 2 input channels \(kernel shape \(3, 3, 2, 4\)\), "
         r"input has 3 \(input shape \(1, 5, 5, 3\)\)"),
        (lambda: ops.conv2d(np.zeros((5, 5, 3)), np.zeros((3, 3, 3, 4))),
         r"ops.conv2d: x must be 4-D \(batch, height, width, channels\), got shape \(5, 5, 3\)"),
        (lambda: ops.conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 3, 4)), np.zeros(3)),
         r"ops.conv2d: bias must have shape \(4\), got \(3,\)"),
        (lambda: ops.conv2d(np.zeros((1, 2, 2, 1)), np.zeros((3, 3, 1, 1))),
         r"ops.conv2d: input height 2 \(padded 2\) is smaller than the window 3"),
        (lambda: ops.conv2d(np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 1)), strides=0),
         r"ops.conv2d: strides must be >= 1, got \(0, 0\)"),
        (lambda: ops.conv2d_backward_input(np.zeros((1, 4, 3, 4)), np.zeros((3, 3, 3, 4)),
                                           (1, 5, 5, 3)),
         r"ops.conv2d_backward_input: d_output must have shape \(1, 3, 3, 4\), got \(1, 4, 3, 4\)"),
        (lambda: ops.conv2d_backward_kernel(np.zeros((1, 3, 3, 4)), np.zeros((1, 5, 5, 3)), (2, 2)),
         r"ops.conv2d_backward_kernel: d_output must have shape \(1, 4, 4, 4\), "
         r"got \(1, 3, 3, 4\)"),
        (lambda: ops.conv2d(np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 1)), padding="full"),
         r"ops.conv2d: padding must be 'valid', 'same' or explicit pads, got 'full'"),
    ],
)
def test_errors_name_op_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_wrong_dtype_is_a_type_error():
    with pytest.raises(TypeError, match=r"ops.conv2d: x must be a real float or integer array"):
        ops.conv2d(np.zeros((1, 2, 2, 1), np.complex64), np.zeros((1, 1, 1, 1)))
