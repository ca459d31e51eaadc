"""2-D convolution, the reference for ``chalknet.ops.conv2d`` and its two backward passes.

Shapes (channels last, as Keras)::

    x       (N, H, W, C)          a batch of images
    kernel  (KH, KW, C, F)        F filters, each KH x KW x C
    bias    (F,)
    y       (N, OH, OW, F)

What a convolution layer computes (strictly a cross-correlation, as in every framework)::

    y[n, oh, ow, f] = bias[f]
                      + sum_{i, j, c} x_pad[n, oh*SH + i*DH, ow*SW + j*DW, c] * kernel[i, j, c, f]

where ``x_pad`` is ``x`` with zeros around it, SH/SW the strides and DH/DW the dilation.

The trick every fast implementation uses, written out here step by step: copy each receptive
field ("patch") into one row of a matrix (``im2col``); then the whole convolution is ONE
matrix product with the kernel reshaped to (KH*KW*C, F).  The backward passes are matrix
products too, plus ``col2im``, which adds each patch row back where it was copied from.
For stride 1 the compiled kernel uses a faster algorithm with fewer multiplications,
Winograd's minimal filtering, written out in NumPy in ``winograd.py``.
"""

from __future__ import annotations

import numpy as np

# Largest padding, stride, dilation or window side accepted: far beyond any real image, and
# small enough that no output size computed from them can overflow the kernels' index type.
MAX_SIDE = 2**24


def _pair(value, name, op="conv2d"):
    """2 -> (2, 2); (2, 3) -> (2, 3)."""
    values = [value] * 2 if np.ndim(value) == 0 else list(np.ravel(value))
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return (int(values[0]), int(values[1]))


def _same_pads(size, window, stride, dilation):
    """TensorFlow's "same" rule: output = ceil(size / stride); the odd pixel goes after."""
    span = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding: str | int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]],
                    input_hw: tuple[int, int],
                    window_hw: tuple[int, int], strides: tuple[int, int],
                    dilation: tuple[int, int] = (1, 1),
                    op: str = "conv2d") -> tuple[int, int, int, int]:
    """Explicit pads (top, bottom, left, right) for ``padding``.

    padding: "valid" (none), "same" (TensorFlow's rule: output size ceil(in / stride), the extra
    row/column of padding at the bottom/right), an int p (p everywhere), a pair (ph, pw), or
    ((top, bottom), (left, right)).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            top, bottom = _same_pads(input_hw[0], window_hw[0], strides[0], dilation[0])
            left, right = _same_pads(input_hw[1], window_hw[1], strides[1], dilation[1])
            return (top, bottom, left, right)
        raise ValueError(f"{op}: padding must be 'valid', 'same' or explicit pads, "
                         f"got {padding!r}")
    try:
        pads = np.asarray(padding)
    except ValueError:  # ragged nesting such as ((1, 2), (3,))
        pads = np.asarray(None)
    if pads.dtype.kind in "iu" and pads.shape == ():
        return (int(pads),) * 4
    if pads.dtype.kind in "iu" and pads.shape == (2,):
        return (int(pads[0]), int(pads[0]), int(pads[1]), int(pads[1]))
    if pads.dtype.kind in "iu" and pads.shape == (2, 2):
        return tuple(int(p) for p in pads.ravel())
    raise ValueError(f"{op}: padding must be 'valid', 'same', an int, (ph, pw) or "
                     f"((t, b), (l, r)), got {padding!r}")


def conv_geometry(
    input_shape: tuple[int, ...], kernel_size: int | tuple[int, int],
    strides: int | tuple[int, int],
    padding: str | int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]],
    dilation_rate: int | tuple[int, int], op: str = "conv2d",
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int], tuple[int, int]]:
    """(strides, dilation, pads, (out_h, out_w)) for a convolution or pooling window.

    ``op`` names the caller in error messages.
    """
    strides = _pair(strides, "strides", op)
    dilation = _pair(dilation_rate, "dilation_rate", op)
    kernel_size = _pair(kernel_size, "kernel_size", op)
    for name, pair in (("strides", strides), ("dilation_rate", dilation),
                       ("kernel_size", kernel_size)):
        if min(pair) < 1:
            raise ValueError(f"{op}: {name} must be >= 1, got {pair}")
    pads = resolve_padding(padding, input_shape[1:3], kernel_size, strides, dilation, op)
    if max(pads) > MAX_SIDE or max(strides + dilation + kernel_size) > MAX_SIDE:
        raise ValueError(f"{op}: padding {pads}, strides {strides}, dilation_rate {dilation} and "
                         f"kernel_size {kernel_size} must each be <= {MAX_SIDE}")
    out_hw = tuple(
        (input_shape[1 + a] + pads[2 * a] + pads[2 * a + 1]
         - (kernel_size[a] - 1) * dilation[a] - 1) // strides[a] + 1
        for a in (0, 1)
    )
    return strides, dilation, pads, out_hw


def im2col(x, kernel_size, strides, pads, dilation, out_hw):
    """Patches of ``x`` as rows: (N, H, W, C) -> (N*OH*OW, KH*KW*C), columns ordered (i, j, c)."""
    kh, kw = kernel_size
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    top, bottom, left, right = pads
    x_pad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))  # (N, H+t+b, W+l+r, C)
    n, c = x.shape[0], x.shape[3]
    patches = np.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # Kernel tap (i, j) sees rows i*DH + SH*[0, OH) and columns j*DW + SW*[0, OW).
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            patches[:, :, :, i, j, :] = x_pad[:, rows, cols, :]  # (N, OH, OW, C)
    return patches.reshape(n * oh * ow, kh * kw * c)


def col2im(d_patches, input_shape, kernel_size, strides, pads, dilation, out_hw):
    """The adjoint of ``im2col``: add each patch row back onto the pixels it came from."""
    kh, kw = kernel_size
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    top, bottom, left, right = pads
    n, h, w, c = input_shape
    d_patches = d_patches.reshape(n, oh, ow, kh, kw, c)
    d_pad = np.zeros((n, h + top + bottom, w + left + right, c), dtype=d_patches.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            d_pad[:, rows, cols, :] += d_patches[:, :, :, i, j, :]  # one tap: distinct pixels
    return d_pad[:, top:top + h, left:left + w, :]  # drop the padding: (N, H, W, C)


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1):
    """y = conv(x, kernel) + bias.  x (N, H, W, C), kernel (KH, KW, C, F) -> y (N, OH, OW, F)."""
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    kh, kw, c, f = kernel.shape
    strides, dilation, pads, out_hw = conv_geometry(x.shape, (kh, kw), strides, padding,
                                                    dilation_rate)
    patches = im2col(x, (kh, kw), strides, pads, dilation, out_hw)  # (N*OH*OW, KH*KW*C)
    y = patches @ kernel.reshape(kh * kw * c, f)                      # (N*OH*OW, F)
    if bias is not None:
        y = y + bias                                                  # broadcast over rows
    return y.reshape(x.shape[0], *out_hw, f)                          # (N, OH, OW, F)


def conv2d_backward_input(d_output, kernel, input_shape, strides=1, padding="valid",
                          dilation_rate=1):
    """dL/dx (N, H, W, C) from d_output = dL/dy (N, OH, OW, F)."""
    d_output = np.asarray(d_output)
    kernel = np.asarray(kernel)
    kh, kw, c, f = kernel.shape
    strides, dilation, pads, out_hw = conv_geometry(input_shape, (kh, kw), strides, padding,
                                                    dilation_rate)
    d_rows = d_output.reshape(-1, f)                                  # (N*OH*OW, F)
    d_patches = d_rows @ kernel.reshape(kh * kw * c, f).T             # (N*OH*OW, KH*KW*C)
    return col2im(d_patches, tuple(input_shape), (kh, kw), strides, pads, dilation, out_hw)


def conv2d_backward_kernel(d_output, x, kernel_size, strides=1, padding="valid",
                           dilation_rate=1):
    """(dL/dkernel (KH, KW, C, F), dL/dbias (F,)) from d_output = dL/dy and the input x."""
    d_output = np.asarray(d_output)
    x = np.asarray(x)
    kh, kw = _pair(kernel_size, "kernel_size")
    c, f = x.shape[3], d_output.shape[3]
    strides, dilation, pads, out_hw = conv_geometry(x.shape, (kh, kw), strides, padding,
                                                    dilation_rate)
    patches = im2col(x, (kh, kw), strides, pads, dilation, out_hw)  # (N*OH*OW, KH*KW*C)
    d_rows = d_output.reshape(-1, f)                                  # (N*OH*OW, F)
    d_kernel = patches.T @ d_rows                                     # (KH*KW*C, F)
    d_bias = d_rows.sum(axis=0)                                       # (F,)
    return d_kernel.reshape(kh, kw, c, f), d_bias
