"""Winograd's minimal filtering: the fast path of ``chalknet.ops.conv2d`` in plain NumPy.

Read ``conv2d.py`` first: this file computes the same stride-1 convolution with fewer
multiplications, the way ``csrc/kernels/winograd.cpp`` does (Lavin & Gray, "Fast Algorithms
for Convolutional Neural Networks", CVPR 2016).

One dimension.  F(m, r) computes m outputs of an r-tap correlation, y[i] = sum_k g[k] d[i + k],
from alpha = m + r - 1 inputs with alpha multiplications instead of m * r::

    y (m,) = A^T @ ((G @ g) * (B^T @ d))          G (alpha, r), B^T (alpha, alpha), A^T (m, alpha)

Why it works: correlating is the transpose of multiplying two polynomials, and a product of
polynomials of degree < alpha is found by evaluating both at alpha points, multiplying the
values and interpolating (Toom-Cook).  G evaluates the kernel's polynomial at the points,
B^T (the transposed interpolation) prepares the inputs, A^T evaluates the output's polynomial.
The points are 0, 1, -1, 2, -2 and "infinity" (which stands for the leading coefficient).

Two dimensions: apply the 1-D matrices to rows and then to columns::

    Y (m_h, m_w) = A_h^T @ [ (G_h @ g @ G_w^T) * (B^T @ d @ B) ] @ A_w        for one tile

With alpha = 6 and m = 7 - r, a 3x3 kernel gives F(4x4, 3x3): 36 multiplications for 16
outputs instead of 144.  Over channels the elementwise product becomes, for each of the 36
positions of the transformed tile, a matrix product (tiles, C) @ (C, F).
"""

from __future__ import annotations

import numpy as np

from .conv2d import resolve_padding

POINTS = (0.0, 1.0, -1.0, 2.0, -2.0)  # the finite points; the last point is infinity
ALPHA = len(POINTS) + 1                # side of a transformed tile


def winograd_matrices(outputs: int, taps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A^T (outputs, alpha), G (alpha, taps), B^T (alpha, alpha) of F(outputs, taps).

    outputs + taps - 1 must be alpha = 6.  With N_t = prod over l != t of (p_t - p_l):
    A^T[i, t] = p_t^i, G[t, k] = p_t^k / N_t, and row t of B^T holds the coefficients of
    prod over l != t of (x - p_l) (all the points for the row of infinity).
    """
    if outputs + taps - 1 != ALPHA:
        raise ValueError(f"winograd_matrices: outputs + taps - 1 must be {ALPHA}, "
                         f"got {outputs} + {taps} - 1")
    points = np.array(POINTS)
    others = [np.delete(points, t) for t in range(len(points))]
    scale = np.array([np.prod(points[t] - rest) for t, rest in enumerate(others)])

    a_t = np.zeros((outputs, ALPHA))
    a_t[:, :-1] = points[None, :] ** np.arange(outputs)[:, None]
    a_t[-1, -1] = 1.0                                   # infinity: the leading coefficient
    g = np.zeros((ALPHA, taps))
    g[:-1] = points[:, None] ** np.arange(taps)[None, :] / scale[:, None]
    g[-1, -1] = 1.0
    b_t = np.zeros((ALPHA, ALPHA))
    for t, rest in enumerate(others):                   # coefficients, lowest power first
        b_t[t, :-1] = np.polynomial.polynomial.polyfromroots(rest)
    b_t[-1] = np.polynomial.polynomial.polyfromroots(points)
    return a_t, g, b_t


def correlate_1d(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """y (m,) with y[i] = sum_k g[k] d[i + k], for d (alpha,) and g (r,), by F(m, r)."""
    a_t, g_matrix, b_t = winograd_matrices(ALPHA + 1 - len(g), len(g))
    return a_t @ ((g_matrix @ g) * (b_t @ d))


def conv2d_winograd(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
                    padding: str | int | tuple = "valid") -> np.ndarray:
    """Stride-1 ``conv2d(x, kernel, bias, 1, padding)`` by Winograd tiles.

    x (N, H, W, C), kernel (KH, KW, C, F) with sides 2..5, returns y (N, OH, OW, F).
    """
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    top, bottom, left, right = resolve_padding(padding, (h, w), (kh, kw), (1, 1))
    out_h, out_w = h + top + bottom - kh + 1, w + left + right - kw + 1
    m_h, m_w = ALPHA + 1 - kh, ALPHA + 1 - kw              # output tile, m = alpha + 1 - r
    at_h, g_h, b_t = winograd_matrices(m_h, kh)
    at_w, g_w, _ = winograd_matrices(m_w, kw)
    tiles_h, tiles_w = -(-out_h // m_h), -(-out_w // m_w)

    # Pad so every tile's alpha x alpha input window exists (zeros past the image).
    x_pad = np.pad(x, ((0, 0), (top, tiles_h * m_h + kh - 1 - h - top),
                       (left, tiles_w * m_w + kw - 1 - w - left), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x_pad, (ALPHA, ALPHA), axis=(1, 2))
    d = windows[:, ::m_h, ::m_w]                                   # (N, TH, TW, C, 6, 6)

    v = np.einsum("xa,ntwcab,yb->ntwxyc", b_t, d, b_t)            # B^T d B     (.., 6, 6, C)
    u = np.einsum("xi,ijcf,yj->xycf", g_h, kernel, g_w)           # G g G^T     (6, 6, C, F)
    m = np.einsum("ntwxyc,xycf->ntwxyf", v, u)                    # 36 products (.., 6, 6, F)
    y = np.einsum("ix,ntwxyf,jy->ntiwjf", at_h, m, at_w)          # A^T M A     (.., m_h, m_w, F)
    y = y.reshape(n, tiles_h * m_h, tiles_w * m_w, f)[:, :out_h, :out_w]
    return y + bias if bias is not None else y
