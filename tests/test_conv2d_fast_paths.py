"""The fast paths of the conv2d kernels against the NumPy reference (test_conv2d.py covers the
op in general; these shapes steer into the paths the small shapes there do not reach):

- backward-input computed as a forward convolution with the flipped kernel (stride 1 and at
  least 8 input channels; explicit pads wider than the kernel's reach fall back to col2im),
- the bias folded into the patch matrix, the patch gather by output-row segments (first-layer
  runs of 1-16 values, windows hanging over either border, strides and dilation),
- the direct kernel for few input channels at stride 1, on every instruction set,
- several tiles shared among threads: identical results for 1 and 2 threads,
- every GEMM instruction-set path underneath.

Bounds as in test_conv2d.py: (reduction length) * eps * max|a| * max|b| per reduction; shapes
that take the Winograd path (test_winograd.py) get its bound (op_compare.conv_bounds).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalknet import ops, reference
from chalknet.reference.conv2d import conv_geometry
from op_compare import (
    assert_identical,
    assert_within,
    conv_bounds,
    reduction_bound,
    run_on_threads,
)


def conv_case(rng, dtype, n, h, w, c, kh, kw, f):
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    return x, kernel, bias


def check_forward_and_backward_input(x, kernel, bias, strides, padding, dilation, dtype):
    x64, k64, b64 = (a.astype(np.float64) for a in (x, kernel, bias))
    want_y = reference.conv2d(x64, k64, b64, strides, padding, dilation)
    d_output = np.random.default_rng(11).standard_normal(want_y.shape).astype(dtype)
    y_bound, dx_bound, _ = conv_bounds(dtype, x, kernel, d_output, strides, dilation)
    got_y = ops.conv2d(x, kernel, bias, strides, padding, dilation)
    assert_within("y", got_y, want_y, y_bound + 2 * reduction_bound(1, dtype, bias), dtype)
    want_dx = reference.conv2d_backward_input(d_output.astype(np.float64), k64, x.shape,
                                              strides, padding, dilation)
    got_dx = ops.conv2d_backward_input(d_output, kernel, x.shape, strides, padding, dilation)
    assert_within("d_input", got_dx, want_dx, dx_bound, dtype)


def output_exists(input_shape, kernel_size, strides, padding, dilation):
    """The window fits the padded image at least once (else test_conv2d.py checks the error)."""
    out_hw = conv_geometry(input_shape, kernel_size, strides, padding, dilation)[3]
    return min(out_hw) >= 1


paddings = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 4),  # 4 is wider than a 1..3 kernel's reach: the col2im fallback
    st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
              st.tuples(st.integers(0, 2), st.integers(0, 2))),
)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(8, 20),
       kh=st.integers(1, 3), kw=st.integers(1, 3), f=st.integers(1, 20),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), padding=paddings,
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_stride_one_backward_input_as_forward(n, h, w, c, kh, kw, f, dilation, padding, dtype,
                                              seed):
    assume(output_exists((n, h, w, c), (kh, kw), 1, padding, dilation))
    x, kernel, bias = conv_case(np.random.default_rng(seed), dtype, n, h, w, c, kh, kw, f)
    check_forward_and_backward_input(x, kernel, bias, 1, padding, dilation, dtype)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(3, 12), w=st.integers(3, 12), c=st.integers(1, 3), k=st.integers(1, 5),
       strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.sampled_from(["valid", "same", 1, ((2, 0), (0, 3))]),
       seed=st.integers(0, 2**16))
def test_first_layer_gather(h, w, c, k, strides, dilation, padding, seed):
    assume(output_exists((2, h, w, c), (k, k), strides, padding, dilation))
    x, kernel, bias = conv_case(np.random.default_rng(seed), np.float32, 2, h, w, c, k, k, 6)
    check_forward_and_backward_input(x, kernel, bias, strides, padding, dilation, np.float32)


@pytest.mark.parametrize("shape", [
    (3, 28, 28, 1, 5, 5, 32),     # lenet first layer: runs of 5, bias column
    (2, 14, 14, 32, 5, 5, 64),    # lenet second layer: flipped backward-input
    (1, 9, 11, 17, 3, 3, 19),     # channels not a multiple of any vector width
])
def test_workload_shapes_on_every_path(isa, shape):
    n, h, w, c, kh, kw, f = shape
    x, kernel, bias = conv_case(np.random.default_rng(3), np.float32, n, h, w, c, kh, kw, f)
    check_forward_and_backward_input(x, kernel, bias, 1, "same", 1, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, padding", [
    ((2, 9, 11, 3, 3, 4, 37), "same"),              # 37 filters: whole vectors, then one by one
    ((1, 5, 30, 1, 5, 5, 16), ((2, 0), (4, 1))),    # 30 pixels: whole and partial blocks
    ((2, 7, 6, 7, 2, 3, 5), "valid"),               # 7 channels, fewer filters than a vector
])
def test_first_layer_direct_rows_on_every_path(isa, dtype, shape, padding):
    """Few input channels at stride 1 run the direct kernel (conv_direct_micro.inc), built in
    every GEMM instruction-set file: forward and kernel gradient."""
    n, h, w, c, kh, kw, f = shape
    x, kernel, bias = conv_case(np.random.default_rng(8), dtype, n, h, w, c, kh, kw, f)
    check_forward_and_backward_input(x, kernel, bias, 1, padding, 1, dtype)
    y = reference.conv2d(x.astype(np.float64), kernel.astype(np.float64), None, 1, padding)
    d_output = np.random.default_rng(9).standard_normal(y.shape).astype(dtype)
    want, _ = reference.conv2d_backward_kernel(d_output.astype(np.float64), x.astype(np.float64),
                                               (kh, kw), 1, padding)
    got, _ = ops.conv2d_backward_kernel(d_output, x, (kh, kw), 1, padding)
    assert_within("d_kernel", got, want, conv_bounds(dtype, x, kernel, d_output, 1, 1)[2], dtype)


def test_many_tiles_identical_for_one_and_two_threads():
    rng = np.random.default_rng(9)
    x, kernel, bias = conv_case(rng, np.float32, 6, 20, 20, 16, 3, 3, 24)  # several tiles
    d_output = rng.standard_normal((6, 20, 20, 24)).astype(np.float32)
    x1, k1, b1 = conv_case(rng, np.float32, 8, 28, 28, 1, 5, 5, 32)        # first layer
    d_output1 = rng.standard_normal((8, 14, 14, 32)).astype(np.float32)    # stride 2: col2im
    d_output_direct = rng.standard_normal((8, 28, 28, 32)).astype(np.float32)  # direct kernel

    def run():
        return (ops.conv2d(x, kernel, bias, 1, "same"),
                ops.conv2d_backward_input(d_output, kernel, x.shape, 1, "same"),
                ops.conv2d(x1, k1, b1, 1, "same"),
                ops.conv2d_backward_input(d_output1, k1, x1.shape, 2, "same"),
                *ops.conv2d_backward_kernel(d_output1, x1, (5, 5), 2, "same"),
                ops.conv2d_backward_kernel(d_output_direct, x1, (5, 5), 1, "same")[0],
                *ops.conv2d_backward_kernel(d_output, x, (3, 3), 1, "same"))

    one, two = run_on_threads(run, 1), run_on_threads(run, 2)
    names = ("y", "d_input", "y first layer", "d_input col2im", "d_kernel first layer",
             "d_bias first layer", "d_kernel first layer direct", "d_kernel", "d_bias")
    for name, a, b in zip(names, one, two, strict=True):
        assert_identical(name, a, b, np.float32)


def test_backward_kernel_in_several_chunks_matches_reference():
    """Enough output pixels for several partial d_kernel sums (chunks of tiles)."""
    rng = np.random.default_rng(10)
    x = conv_case(rng, np.float32, 8, 28, 28, 1, 5, 5, 32)[0]
    d_output = rng.standard_normal((8, 28, 28, 32)).astype(np.float32)
    want_dk, want_db = reference.conv2d_backward_kernel(
        d_output.astype(np.float64), x.astype(np.float64), (5, 5), 1, "same")
    got_dk, got_db = ops.conv2d_backward_kernel(d_output, x, (5, 5), 1, "same")
    pixels = 8 * 28 * 28
    assert_within("d_kernel", got_dk, want_dk, reduction_bound(pixels, np.float32, d_output, x),
                  np.float32)
    assert_within("d_bias", got_db, want_db, reduction_bound(pixels, np.float32, d_output),
                  np.float32)
