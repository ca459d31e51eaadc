"""The Winograd path of conv2d (stride 1, kernel sides 2..5, 8+ channels each way).

- chalknet.reference.winograd: its F(m, r) matrices compute a correlation exactly, and its
  tiled convolution equals the im2col reference;
- ops.conv2d, conv2d_backward_input and conv2d_backward_kernel on shapes that take the path,
  against the im2col reference: float64 (where every bug shows at 1e-12) and float32;
- every instruction-set build of the transform loops, several blocks of tiles and several
  partial sums of the kernel gradient, identical results for 1 and 2 threads.

Bounds (op_compare.winograd_bound): the reduction bound of the channel (or tile) sums plus a
dozen roundings in the transforms, times how much the transforms can amplify an error
(max_i sum_t |A^T[i,t]| |G[t,:]|_1 |B^T[t,:]|_1 per axis).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalknet import ops, reference
from chalknet.reference import winograd
from chalknet.reference.conv2d import conv_geometry
from op_compare import (
    assert_identical,
    assert_within,
    conv_bounds,
    reduction_bound,
    run_on_threads,
    winograd_bound,
)


@pytest.mark.parametrize("taps", [2, 3, 4, 5])
def test_matrices_compute_the_correlation(taps):
    rng = np.random.default_rng(taps)
    d = rng.standard_normal(winograd.ALPHA)
    g = rng.standard_normal(taps)
    want = np.correlate(d, g, mode="valid")            # y[i] = sum_k g[k] d[i + k]
    got = winograd.correlate_1d(d, g)
    bound = winograd_bound(1, np.float64, (winograd.ALPHA + 1 - taps,), (taps,), d, g)
    assert_within("y", got, want, bound, np.float64)


def test_matrices_of_f43_are_lavin_and_grays():
    """F(4, 3) with the points 0, +-1, +-2, infinity: B^T has the integer rows of the paper."""
    _, _, b_t = winograd.winograd_matrices(4, 3)
    assert b_t[0].tolist() == [4, 0, -5, 0, 1, 0]
    assert b_t[-1].tolist() == [0, 4, 0, -5, 0, 1]


def test_matrices_refuse_another_tile_size():
    with pytest.raises(ValueError, match="outputs \\+ taps - 1 must be 6"):
        winograd.winograd_matrices(4, 4)


paddings = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 3),
    st.tuples(st.tuples(st.integers(0, 4), st.integers(0, 4)),
              st.tuples(st.integers(0, 4), st.integers(0, 4))),
)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), h=st.integers(1, 13), w=st.integers(1, 13), c=st.integers(1, 4),
       f=st.integers(1, 4), kh=st.integers(2, 5), kw=st.integers(2, 5), padding=paddings,
       seed=st.integers(0, 2**16))
def test_reference_tiles_equal_im2col(n, h, w, c, f, kh, kw, padding, seed):
    assume(min(conv_geometry((n, h, w, c), (kh, kw), 1, padding, 1)[3]) >= 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c))
    kernel = rng.standard_normal((kh, kw, c, f))
    bias = rng.standard_normal(f)
    want = reference.conv2d(x, kernel, bias, 1, padding)
    got = winograd.conv2d_winograd(x, kernel, bias, padding)
    tile = (winograd.ALPHA + 1 - kh, winograd.ALPHA + 1 - kw)
    bound = winograd_bound(c, np.float64, tile, (kh, kw), x, kernel)
    assert_within("y", got, want, bound + reduction_bound(2, np.float64, bias), np.float64)


def check_all_passes(x, kernel, bias, padding, dtype, seed=7):
    """Forward, backward-input and backward-kernel of ops against the float64 reference."""
    kh, kw = kernel.shape[:2]
    x64, k64, b64 = (a.astype(np.float64) for a in (x, kernel, bias))
    want_y = reference.conv2d(x64, k64, b64, 1, padding)
    d_output = np.random.default_rng(seed).standard_normal(want_y.shape).astype(dtype)
    d64 = d_output.astype(np.float64)
    y_bound, dx_bound, dk_bound = conv_bounds(dtype, x, kernel, d_output, 1, 1)

    got_y = ops.conv2d(x, kernel, bias, 1, padding)
    assert_within("y", got_y, want_y, y_bound + 2 * reduction_bound(1, dtype, bias), dtype)
    want_dx = reference.conv2d_backward_input(d64, k64, x.shape, 1, padding)
    got_dx = ops.conv2d_backward_input(d_output, kernel, x.shape, 1, padding)
    assert_within("d_input", got_dx, want_dx, dx_bound, dtype)
    want_dk, _ = reference.conv2d_backward_kernel(d64, x64, (kh, kw), 1, padding)
    got_dk, _ = ops.conv2d_backward_kernel(d_output, x, (kh, kw), 1, padding)
    assert_within("d_kernel", got_dk, want_dk, dk_bound, dtype)


def conv_case(rng, dtype, n, h, w, c, kh, kw, f):
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    return x, kernel, bias


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 14), w=st.integers(1, 14), c=st.integers(8, 19),
       f=st.integers(8, 19), kh=st.integers(2, 5), kw=st.integers(2, 5), padding=paddings,
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_ops_on_the_winograd_path_match_reference(n, h, w, c, f, kh, kw, padding, dtype, seed):
    assume(min(conv_geometry((n, h, w, c), (kh, kw), 1, padding, 1)[3]) >= 1)
    x, kernel, bias = conv_case(np.random.default_rng(seed), dtype, n, h, w, c, kh, kw, f)
    check_all_passes(x, kernel, bias, padding, dtype)


@pytest.mark.parametrize("shape", [
    (2, 16, 16, 24, 3, 3, 40),    # F(4x4, 3x3); channels not a multiple of a vector
    (2, 14, 14, 32, 5, 5, 16),    # F(2x2, 5x5), the lenet-c2 kernel
    (1, 9, 11, 17, 2, 4, 9),      # non-square kernel: F(5, 2) by F(3, 4)
])
def test_every_instruction_set(isa, shape):
    n, h, w, c, kh, kw, f = shape
    x, kernel, bias = conv_case(np.random.default_rng(5), np.float32, n, h, w, c, kh, kw, f)
    check_all_passes(x, kernel, bias, "same", np.float32)


def test_many_blocks_and_chunks_identical_for_one_and_two_threads():
    """Enough tiles for several blocks (forward) and partial sums (kernel gradient)."""
    rng = np.random.default_rng(12)
    x, kernel, bias = conv_case(rng, np.float32, 12, 30, 30, 16, 3, 3, 24)
    d_output = rng.standard_normal((12, 30, 30, 24)).astype(np.float32)

    def run():
        return (ops.conv2d(x, kernel, bias, 1, "same"),
                ops.conv2d_backward_input(d_output, kernel, x.shape, 1, "same"),
                ops.conv2d_backward_kernel(d_output, x, (3, 3), 1, "same")[0])

    one, two = run_on_threads(run, 1), run_on_threads(run, 2)
    for name, a, b in zip(("y", "d_input", "d_kernel"), one, two, strict=True):
        assert_identical(name, a, b, np.float32)
    check_all_passes(x, kernel, bias, "same", np.float32)
