"""Comparison helpers for op tests: check shape and dtype before values, name the tensor that
differs and print both sides.  Bounds come from the arithmetic (see each caller)."""

from __future__ import annotations

import numpy as np

import chalknet
from chalknet.reference import winograd
from chalknet.utils import numerical_gradient


def _describe(name, got, want):
    return f"{name}: got shape {np.shape(got)} dtype {getattr(got, 'dtype', None)}, " \
           f"want shape {np.shape(want)}"


def check_form(name, got, want, dtype):
    """Shape of ``want`` and the given dtype, before any value is compared."""
    assert isinstance(got, np.ndarray), f"{name}: expected a numpy array, got {type(got).__name__}"
    assert got.shape == np.shape(want), _describe(name, got, want)
    assert got.dtype == np.dtype(dtype), f"{name}: dtype {got.dtype}, want {np.dtype(dtype)}"


def assert_within(name, got, want, bound, dtype):
    """|got - want| <= bound everywhere (want is the float64 reference)."""
    check_form(name, got, want, dtype)
    err = np.abs(got.astype(np.float64) - want)
    if err.size and not err.max() <= bound:
        worst = np.unravel_index(np.argmax(err), err.shape)
        raise AssertionError(
            f"{name}: max |error| {err.max():.3g} > bound {bound:.3g} at {worst} "
            f"(got {got[worst]!r}, want {want[worst]!r})\ngot:\n{got}\nwant:\n{want}")


def assert_identical(name, got, want, dtype):
    """Exactly equal values (max pooling, determinism)."""
    check_form(name, got, want, dtype)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    if not same.all():
        where = np.argwhere(~same)[:5]
        raise AssertionError(f"{name}: {int((~same).sum())} values differ, first at "
                             f"{[tuple(w) for w in where]}\ngot:\n{got}\nwant:\n{want}")


def run_on_threads(run, threads):
    """run() with the kernels on ``threads`` threads (the setting is restored after)."""
    saved = chalknet.get_num_threads()
    try:
        chalknet.set_num_threads(threads)
        return run()
    finally:
        chalknet.set_num_threads(saved)


def reduction_bound(length, dtype, *scales):
    """Rounding bound of a length-``length`` sum of products: length * eps * prod(max|.|)."""
    bound = max(int(length), 1) * np.finfo(dtype).eps
    for scale in scales:
        bound *= float(np.max(np.abs(scale))) if np.size(scale) else 0.0
    return bound


def central_difference(loss, x, step=1e-6):
    """dloss/dx by central differences, one element at a time (float64 x, modified in place):
    chalknet.utils.numerical_gradient with the step these tests' bounds assume."""
    return numerical_gradient(loss, x, step)


def central_difference_bound(loss_terms, step=1e-6):
    """Error bound of ``central_difference`` for a loss that is a sum of ``loss_terms`` and
    linear (or piecewise linear away from kinks) in each input: no truncation error, only the
    rounding of the two sums, (number of terms) * eps * sum|terms|, divided by 2 * step."""
    terms = np.abs(np.asarray(loss_terms, dtype=np.float64))
    return terms.size * np.finfo(np.float64).eps * terms.sum() / step


def takes_winograd(channels, filters, kernel_hw, strides, dilation):
    """Whether ops.conv2d runs this shape by Winograd (csrc/kernels/winograd.cpp,
    winograd_applies): stride 1, no dilation, kernel sides 2..5, 8 or more channels each way."""
    sides_ok = all(2 <= k <= 5 for k in kernel_hw)
    ones = all(v == 1 for v in np.ravel(strides)) and all(v == 1 for v in np.ravel(dilation))
    return sides_ok and ones and channels >= 8 and filters >= 8


def winograd_growth(outputs_hw, taps_hw):
    """How much F(m, r)'s transforms can amplify a rounding error, both axes together: per axis
    max over outputs i of sum_t |A^T[i, t]| * sum_k |G[t, k]| * sum_l |B^T[t, l]|."""
    growth = 1.0
    for outputs, taps in zip(outputs_hw, taps_hw, strict=True):
        a_t, g, b_t = winograd.winograd_matrices(outputs, taps)
        per_point = np.abs(g).sum(axis=1) * np.abs(b_t).sum(axis=1)
        growth *= float(np.max(np.abs(a_t) @ per_point))
    return growth


def winograd_bound(length, dtype, outputs_hw, taps_hw, *scales):
    """Rounding bound of a Winograd F(m, r) result whose products are summed over ``length``
    terms (channels, or tiles for the kernel gradient): the reduction bound with a dozen more
    roundings for the transforms, times their growth."""
    depth = 2 * winograd.ALPHA
    return reduction_bound(length + depth, dtype, *scales) * winograd_growth(outputs_hw, taps_hw)


def conv_bounds(dtype, x, kernel, d_output, strides, dilation):
    """Bounds for (y without its bias, d_input, d_kernel) of ops.conv2d on these inputs: the
    im2col reduction bounds, or Winograd's when the shape takes that path."""
    n, _, _, c = x.shape
    kh, kw, _, f = kernel.shape
    _, oh, ow, _ = d_output.shape
    if not takes_winograd(c, f, (kh, kw), strides, dilation):
        return (reduction_bound(kh * kw * c, dtype, x, kernel),
                reduction_bound(kh * kw * f, dtype, d_output, kernel),
                reduction_bound(n * oh * ow, dtype, d_output, x))
    tile = (winograd.ALPHA + 1 - kh, winograd.ALPHA + 1 - kw)
    tiles = n * -(-oh // tile[0]) * -(-ow // tile[1])
    return (winograd_bound(c, dtype, tile, (kh, kw), x, kernel),
            winograd_bound(f, dtype, tile, (kh, kw), d_output, kernel),
            winograd_bound(tiles, dtype, (kh, kw), tile, d_output, x))
