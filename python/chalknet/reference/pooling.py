"""Max and average pooling, the reference for ``chalknet.ops.max_pool2d`` and friends.

Shapes (channels last)::

    x  (N, H, W, C)   ->   y  (N, OH, OW, C)

Each output pixel (oh, ow) looks at a window of PH x PW input pixels starting at row
oh*SH - top and column ow*SW - left.  With padding="same" a window may hang over the border;
the padded positions take no part (TensorFlow's rule): max pooling ignores them and average
pooling divides by the number of pixels actually inside the image.

Max pooling ties: the FIRST maximum in the window, read row by row, wins (``np.argmax``'s
rule; a NaN counts as the maximum).  Backward sends each output's gradient to exactly that
pixel; every other pixel of the window gets nothing from it.
"""

import numpy as np

from .conv2d import _pair, conv_geometry


def _geometry(input_shape, pool_size, strides, padding):
    pool_size = _pair(pool_size, "pool_size")
    strides = pool_size if strides is None else _pair(strides, "strides")
    strides, _, pads, out_hw = conv_geometry(input_shape, pool_size, strides, padding, 1)
    return pool_size, strides, pads, out_hw


def _windows(input_shape, pool_size, strides, padding):
    """Yield (oh, ow, rows, cols): the in-image slices of each output pixel's window."""
    (ph, pw), (sh, sw), pads, (out_h, out_w) = _geometry(input_shape, pool_size, strides, padding)
    h, w = input_shape[1:3]
    for oh in range(out_h):
        r0 = oh * sh - pads[0]
        for ow in range(out_w):
            c0 = ow * sw - pads[2]
            yield oh, ow, slice(max(r0, 0), min(r0 + ph, h)), slice(max(c0, 0), min(c0 + pw, w))


def _output(input_shape, pool_size, strides, padding, dtype):
    _, _, _, out_hw = _geometry(input_shape, pool_size, strides, padding)
    return np.empty((input_shape[0], *out_hw, input_shape[3]), dtype=dtype)


def _flat_window(x, rows, cols):
    """The pixels of one window, one row per image: (N, window pixels, C)."""
    pixels = (rows.stop - rows.start) * (cols.stop - cols.start)
    return x[:, rows, cols, :].reshape(x.shape[0], pixels, x.shape[3])


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """y[n, oh, ow, c] = max of x[n, window(oh, ow), c].  strides default to pool_size."""
    y, _ = max_pool2d_with_argmax(x, pool_size, strides, padding)
    return y


def max_pool2d_backward(d_output, x, pool_size=2, strides=None, padding="valid"):
    """dL/dx: each d_output value goes to the first maximum of its window, found again from x."""
    x = np.asarray(x)
    _, argmax = max_pool2d_with_argmax(x, pool_size, strides, padding)
    return max_pool2d_backward_argmax(d_output, argmax, x.shape, pool_size, strides, padding)


def max_pool2d_with_argmax(x, pool_size=2, strides=None, padding="valid"):
    """(y, argmax): y[n, oh, ow, c] = max of x[n, window(oh, ow), c], and
    argmax[n, oh, ow, c] = row * W + col of that (first) maximum in the image."""
    x = np.asarray(x)
    width_of_image = x.shape[2]
    y = _output(x.shape, pool_size, strides, padding, x.dtype)
    argmax = np.empty(y.shape, dtype=np.int32)
    for oh, ow, rows, cols in _windows(x.shape, pool_size, strides, padding):
        window = _flat_window(x, rows, cols)                              # (N, PH*PW, C)
        first_max = np.argmax(window, axis=1)                             # (N, C)
        y[:, oh, ow, :] = np.take_along_axis(window, first_max[:, None, :], axis=1)[:, 0, :]
        width = cols.stop - cols.start
        r = rows.start + first_max // width                               # image row of the max
        col = cols.start + first_max % width                              # image column
        argmax[:, oh, ow, :] = r * width_of_image + col
    return y, argmax


def max_pool2d_backward_argmax(d_output, argmax, input_shape, pool_size=2, strides=None,
                               padding="valid"):
    """dL/dx from the forward pass's argmax: d_output[n, oh, ow, c] goes to pixel
    argmax[n, oh, ow, c] when that pixel lies in window (oh, ow); otherwise nowhere."""
    d_output = np.asarray(d_output)
    argmax = np.asarray(argmax)
    n, h, w, c = input_shape
    d_pixels = np.zeros((n, h * w, c), dtype=d_output.dtype)            # (N, H*W, C)
    n_index = np.arange(n)[:, None]                                       # (N, 1)
    c_index = np.arange(c)[None, :]                                       # (1, C)
    for oh, ow, rows, cols in _windows(input_shape, pool_size, strides, padding):
        window_pixels = (np.arange(rows.start, rows.stop)[:, None] * w
                         + np.arange(cols.start, cols.stop)[None, :]).ravel()
        target = argmax[:, oh, ow, :]                                     # (N, C)
        inside = np.isin(target, window_pixels)                          # (N, C)
        # One pixel per (n, c); an argmax outside the window adds 0 to pixel 0 instead.
        d_pixels[n_index, np.where(inside, target, 0), c_index] += np.where(
            inside, d_output[:, oh, ow, :], 0)
    return d_pixels.reshape(n, h, w, c)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """y[n, oh, ow, c] = mean of x[n, window(oh, ow), c] over the in-image pixels."""
    x = np.asarray(x)
    y = _output(x.shape, pool_size, strides, padding, x.dtype)
    for oh, ow, rows, cols in _windows(x.shape, pool_size, strides, padding):
        y[:, oh, ow, :] = x[:, rows, cols, :].mean(axis=(1, 2))
    return y


def avg_pool2d_backward(d_output, input_shape, pool_size=2, strides=None, padding="valid"):
    """dL/dx: each d_output value shared equally by the in-image pixels of its window."""
    d_output = np.asarray(d_output)
    d_input = np.zeros(tuple(input_shape), dtype=d_output.dtype)
    for oh, ow, rows, cols in _windows(input_shape, pool_size, strides, padding):
        count = (rows.stop - rows.start) * (cols.stop - cols.start)
        d_input[:, rows, cols, :] += d_output[:, oh, ow, None, None, :] / count
    return d_input


def global_avg_pool2d(x):
    """(N, H, W, C) -> (N, C): the mean of each channel over the image."""
    return np.asarray(x).mean(axis=(1, 2))


def global_avg_pool2d_backward(d_output, input_shape):
    """dL/dx: each channel's gradient shared equally by all H*W pixels."""
    n, h, w, c = input_shape
    d_output = np.asarray(d_output)
    return np.broadcast_to(d_output[:, None, None, :] / (h * w), (n, h, w, c)).copy()


def global_max_pool2d(x):
    """(N, H, W, C) -> (N, C): the maximum of each channel over the image."""
    x = np.asarray(x)
    return max_pool2d(x, pool_size=x.shape[1:3])[:, 0, 0, :]


def global_max_pool2d_backward(d_output, x):
    """dL/dx: each channel's gradient goes to the first maximum of that channel."""
    x = np.asarray(x)
    d_output = np.asarray(d_output)
    return max_pool2d_backward(d_output[:, None, None, :], x, pool_size=x.shape[1:3])
