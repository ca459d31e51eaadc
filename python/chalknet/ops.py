"""Functional ops on NumPy arrays, backed by the compiled kernels in ``chalknet._core``.

This is the only Python module that imports ``_core``. Every op here has a twin with the same
signature in :mod:`chalknet.reference`, written in plain NumPy to be read; the tests compare the
two. Each op checks its arguments and raises an error that names the op, what it expected and
what it received, before any kernel runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# Type hints: a window size or stride for both axes (one int) or per axis; a padding.
_Pair = int | tuple[int, int]
_Padding = str | int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]]


def _as_float_array(x, op: str, name: str, dtype=None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32/float64 array (a copy only when needed)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":  # complex, object, strings: never cast silently
        raise TypeError(
            f"{op}: {name} must be a real float or integer array, got dtype {arr.dtype}")
    if dtype is None:
        if arr.dtype in _FLOAT_DTYPES:
            dtype = arr.dtype
        elif arr.dtype.kind in "biu":
            dtype = np.dtype(np.float32)
        else:
            raise TypeError(
                f"{op}: {name} must be a real float or integer array, got dtype {arr.dtype}"
            )
    return np.ascontiguousarray(arr, dtype=dtype)


def _result_dtype(op: str, a: np.ndarray, b: np.ndarray) -> np.dtype:
    for name, arr in (("a", a), ("b", b)):
        other_float = arr.dtype.kind == "f" and arr.dtype not in _FLOAT_DTYPES
        if arr.dtype.kind not in "fiub" or other_float:
            raise TypeError(
                f"{op}: {name} must be float32 or float64 (or integer), got dtype {arr.dtype}"
            )
    if np.float64 in (a.dtype, b.dtype):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


_MATMUL_KERNELS = {np.dtype(np.float32): _core.matmul_f32, np.dtype(np.float64): _core.matmul_f64}


def matmul(a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False,
           out: np.ndarray | None = None) -> np.ndarray:
    """Matrix product ``op(a) @ op(b)`` where ``op`` transposes when asked.

    a: (m, k), or (k, m) with ``transpose_a``;  b: (k, n), or (n, k) with ``transpose_b``.
    Returns (m, n). The result is float64 when either input is float64, else float32.
    Inputs that are not C-contiguous or not of the result dtype are converted (copied) once;
    ``out``, when given, must already be a C-contiguous array of the result dtype and shape.
    """
    kernel = _MATMUL_KERNELS.get(getattr(a, "dtype", None))
    if (kernel is not None and out is None and type(a) is np.ndarray and type(b) is np.ndarray
            and b.dtype == a.dtype and a.flags.c_contiguous and b.flags.c_contiguous):
        # Nothing to convert: the binding checks the shapes and allocates the result.
        return kernel(a, b, bool(transpose_a), bool(transpose_b))
    op = "ops.matmul"
    a = np.asarray(a)
    b = np.asarray(b)
    for name, arr in (("a", a), ("b", b)):
        if arr.ndim != 2:
            raise ValueError(f"{op}: {name} must be 2-D, got shape {arr.shape}")
    dtype = _result_dtype(op, a, b)
    a = _as_float_array(a, op, "a", dtype)
    b = _as_float_array(b, op, "b", dtype)
    m, k = a.shape[::-1] if transpose_a else a.shape
    k_b, n = b.shape[::-1] if transpose_b else b.shape
    if k != k_b:
        raise ValueError(f"{op}: inner dimensions differ: a is {a.shape}, b is {b.shape}")
    if out is None:
        out = np.empty((m, n), dtype=dtype)
    elif not isinstance(out, np.ndarray) or out.dtype != dtype or out.shape != (m, n):
        got = (getattr(out, "shape", None), getattr(out, "dtype", type(out).__name__))
        raise ValueError(f"{op}: out must be a {dtype} array of shape {(m, n)}, got {got}")
    kernel = _core.gemm_f64 if dtype == np.float64 else _core.gemm_f32
    kernel(out, a, b, bool(transpose_a), bool(transpose_b), 1.0, 0.0)
    return out


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the compiled kernels (like ``torch.set_num_threads``)."""
    if int(n) < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads the compiled kernels use."""
    return int(_core.get_num_threads())


def _override_cold_region(ns: int) -> None:
    """Test hook: take a parallel region on sleeping threads to cost ``ns`` nanoseconds more
    than on spinning ones (negative: the built-in figure, ``csrc/kernels/team.h``)."""
    _core._override_cold_region_ns(int(ns))


def _parallel_choices() -> int:
    """Test hook: how many kernel calls have chosen a parallel region so far."""
    return int(_core._parallel_choices())


def build_info() -> dict:
    """How this build was made and what it runs: version, compiler, OpenMP, SIMD level, threads."""
    return dict(_core.build_info())


# ----- convolution and pooling (NHWC) ---------------------------------------------------------
# Geometry (strides, dilation, explicit pads from "valid"/"same"/numbers) is resolved by the same
# function the reference uses, so the two can never disagree on TensorFlow's "same" rule.

from .reference.conv2d import _pair, conv_geometry  # noqa: E402  (pure NumPy, no kernels)


def _nhwc(x, op: str, name: str, dtype=None) -> np.ndarray:
    arr = _as_float_array(x, op, name, dtype)
    if arr.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D (batch, height, width, channels), "
                         f"got shape {arr.shape}")
    return arr


def _input_shape(shape, op: str) -> tuple:
    shape = tuple(int(d) for d in shape)
    if len(shape) != 4:
        raise ValueError(f"{op}: input_shape must be (batch, height, width, channels), "
                         f"got {shape}")
    return shape


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
           strides: _Pair = 1,
           padding: _Padding = "valid",
           dilation_rate: _Pair = 1) -> np.ndarray:
    """2-D convolution over NHWC images, as Keras's Conv2D computes it.

    x (N, H, W, C), kernel (KH, KW, C, F), bias (F,) or None  ->  y (N, OH, OW, F).
    padding: "valid", "same" (TensorFlow's rule: the odd row/column goes bottom/right), an int,
    (ph, pw) or ((top, bottom), (left, right)).  The dtype is x's (float32 or float64; integer
    x becomes float32); kernel and bias are converted (copied) to it when they differ.
    """
    op = "ops.conv2d"
    x = _nhwc(x, op, "x")
    kernel = _as_float_array(kernel, op, "kernel", x.dtype)
    if kernel.ndim != 4:
        raise ValueError(f"{op}: kernel must be 4-D (kernel_h, kernel_w, in_channels, filters), "
                         f"got shape {kernel.shape}")
    if bias is not None:
        bias = _as_float_array(bias, op, "bias", x.dtype)
    strides, dilation, pads, _ = conv_geometry(x.shape, kernel.shape[:2], strides, padding,
                                               dilation_rate, op)
    return _core.conv2d_forward(x, kernel, bias, strides, pads, dilation)


def conv2d_backward_input(d_output: np.ndarray, kernel: np.ndarray, input_shape: tuple[int, ...],
                          strides: _Pair = 1,
                          padding: _Padding = "valid",
                          dilation_rate: _Pair = 1) -> np.ndarray:
    """dL/dx (N, H, W, C) of ``conv2d`` from d_output = dL/dy (N, OH, OW, F)."""
    op = "ops.conv2d_backward_input"
    d_output = _nhwc(d_output, op, "d_output")
    kernel = _as_float_array(kernel, op, "kernel", d_output.dtype)
    if kernel.ndim != 4:
        raise ValueError(f"{op}: kernel must be 4-D (kernel_h, kernel_w, in_channels, filters), "
                         f"got shape {kernel.shape}")
    input_shape = _input_shape(input_shape, op)
    strides, dilation, pads, _ = conv_geometry(input_shape, kernel.shape[:2], strides, padding,
                                               dilation_rate, op)
    return _core.conv2d_backward_input(d_output, kernel, input_shape, strides, pads, dilation)


def conv2d_backward_kernel(d_output: np.ndarray, x: np.ndarray, kernel_size: _Pair,
                           strides: _Pair = 1,
                           padding: _Padding = "valid",
                           dilation_rate: _Pair = 1) -> tuple:
    """(dL/dkernel (KH, KW, C, F), dL/dbias (F,)) of ``conv2d`` from d_output and x."""
    op = "ops.conv2d_backward_kernel"
    d_output = _nhwc(d_output, op, "d_output")
    x = _nhwc(x, op, "x", d_output.dtype)
    kernel_size = _pair(kernel_size, "kernel_size", op)
    strides, dilation, pads, _ = conv_geometry(x.shape, kernel_size, strides, padding,
                                               dilation_rate, op)
    d_kernel, d_bias = _core.conv2d_backward_kernel(d_output, x, kernel_size, strides, pads,
                                                    dilation)
    return d_kernel, d_bias


_RELU_BACKWARD_KERNELS = {np.dtype(np.float32): _core.relu_backward_f32,
                          np.dtype(np.float64): _core.relu_backward_f64}


def relu_backward(d_output: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dL/dx of relu(x): d_output where x > 0, else exactly 0 (also for inf/NaN d_output).

    One branch-free pass in C++; the result has d_output's dtype (x is converted to it).
    """
    op = "ops.relu_backward"
    shape, d_shape = np.shape(x), np.shape(d_output)  # before conversion (0-d stays 0-d)
    d_output = _as_float_array(d_output, op, "d_output")
    x = _as_float_array(x, op, "x", d_output.dtype)
    if shape != d_shape:
        raise ValueError(f"{op}: d_output must have the shape of x {shape}, got {d_shape}")
    flat = _RELU_BACKWARD_KERNELS[d_output.dtype](d_output.reshape(-1), x.reshape(-1))
    return flat.reshape(shape)


def _pool_geometry(input_shape, pool_size, strides, padding, op):
    pool_size = _pair(pool_size, "pool_size", op)
    if min(pool_size) < 1:
        raise ValueError(f"{op}: pool_size must be >= 1, got {pool_size}")
    strides = pool_size if strides is None else strides
    strides, _, pads, _ = conv_geometry(input_shape, pool_size, strides, padding, 1, op)
    return pool_size, strides, pads


def max_pool2d(x: np.ndarray, pool_size: _Pair = 2, strides: _Pair | None = None,
               padding: str = "valid") -> np.ndarray:
    """Max pooling over NHWC images: (N, H, W, C) -> (N, OH, OW, C).

    strides default to pool_size; padding "valid" or "same" (padded positions are ignored).
    Ties go to the first maximum of the window read row by row; NaN counts as the maximum.
    """
    op = "ops.max_pool2d"
    x = _nhwc(x, op, "x")
    pool_size, strides, pads = _pool_geometry(x.shape, pool_size, strides, padding, op)
    return _core.max_pool2d_forward(x, pool_size, strides, pads)


def max_pool2d_backward(d_output: np.ndarray, x: np.ndarray, pool_size: _Pair = 2,
                        strides: _Pair | None = None,
                        padding: str = "valid") -> np.ndarray:
    """dL/dx of ``max_pool2d``: each d_output value goes to its window's (first) maximum."""
    op = "ops.max_pool2d_backward"
    d_output = _nhwc(d_output, op, "d_output")
    x = _nhwc(x, op, "x", d_output.dtype)
    pool_size, strides, pads = _pool_geometry(x.shape, pool_size, strides, padding, op)
    return _core.max_pool2d_backward(d_output, x, pool_size, strides, pads)


def max_pool2d_with_argmax(x: np.ndarray, pool_size: _Pair = 2, strides: _Pair | None = None,
                           padding: str = "valid") -> tuple[np.ndarray, np.ndarray]:
    """``max_pool2d`` that also says where each maximum was: returns (y, argmax).

    argmax has y's shape and dtype int32: the pixel index ``row * W + col`` inside its image of
    the value y took (torch's ``return_indices`` convention; the channel is the argmax's own).
    ``max_pool2d_backward_argmax`` routes gradients with it without reading x again, which is
    what ``MaxPooling2D`` does between its forward and backward passes.
    """
    op = "ops.max_pool2d_with_argmax"
    x = _nhwc(x, op, "x")
    pool_size, strides, pads = _pool_geometry(x.shape, pool_size, strides, padding, op)
    return _core.max_pool2d_forward_argmax(x, pool_size, strides, pads)


def _pool_argmax(argmax, op: str) -> np.ndarray:
    """argmax as int32; values int32 cannot hold name no pixel, so they become -1 (no pixel)."""
    argmax = np.asarray(argmax)
    if argmax.dtype.kind not in "iu":
        raise TypeError(f"{op}: argmax must hold integers (int32), got dtype {argmax.dtype}")
    if argmax.dtype != np.int32:
        fits = (argmax >= 0) & (argmax <= np.iinfo(np.int32).max)
        argmax = np.where(fits, argmax, -1)
    return np.ascontiguousarray(argmax, dtype=np.int32)


def max_pool2d_backward_argmax(d_output: np.ndarray, argmax: np.ndarray,
                               input_shape: tuple[int, ...], pool_size: _Pair = 2,
                               strides: _Pair | None = None,
                               padding: str = "valid") -> np.ndarray:
    """dL/dx of ``max_pool2d`` from the argmax ``max_pool2d_with_argmax`` returned.

    Each d_output value goes to the pixel its argmax names; equal to ``max_pool2d_backward``,
    without reading x.  An argmax that names no pixel of its window routes nothing.
    """
    op = "ops.max_pool2d_backward_argmax"
    d_output = _nhwc(d_output, op, "d_output")
    argmax = _pool_argmax(argmax, op)
    input_shape = _input_shape(input_shape, op)
    pool_size, strides, pads = _pool_geometry(input_shape, pool_size, strides, padding, op)
    return _core.max_pool2d_backward_argmax(d_output, argmax, input_shape, pool_size, strides,
                                            pads)


def avg_pool2d(x: np.ndarray, pool_size: _Pair = 2, strides: _Pair | None = None,
               padding: str = "valid") -> np.ndarray:
    """Average pooling over NHWC images; "same" windows average only their in-image pixels."""
    op = "ops.avg_pool2d"
    x = _nhwc(x, op, "x")
    pool_size, strides, pads = _pool_geometry(x.shape, pool_size, strides, padding, op)
    return _core.avg_pool2d_forward(x, pool_size, strides, pads)


def avg_pool2d_backward(d_output: np.ndarray, input_shape: tuple[int, ...],
                        pool_size: _Pair = 2, strides: _Pair | None = None,
                        padding: str = "valid") -> np.ndarray:
    """dL/dx of ``avg_pool2d``: each d_output value shared equally by its window's pixels."""
    op = "ops.avg_pool2d_backward"
    d_output = _nhwc(d_output, op, "d_output")
    input_shape = _input_shape(input_shape, op)
    pool_size, strides, pads = _pool_geometry(input_shape, pool_size, strides, padding, op)
    return _core.avg_pool2d_backward(d_output, input_shape, pool_size, strides, pads)


def _images(x, op: str, name: str = "x", dtype=None) -> np.ndarray:
    """An NHWC batch with at least one pixel per image (global pooling needs one)."""
    x = _nhwc(x, op, name, dtype)
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"{op}: {name} must have height and width >= 1, got shape {x.shape}")
    return x


def _global_d_output(d_output, input_shape, op: str) -> np.ndarray:
    d_output = _as_float_array(d_output, op, "d_output")
    if d_output.shape != (input_shape[0], input_shape[3]):
        raise ValueError(f"{op}: d_output must have shape {(input_shape[0], input_shape[3])}, "
                         f"got {d_output.shape}")
    return d_output.reshape(input_shape[0], 1, 1, input_shape[3])


def global_avg_pool2d(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C): the mean of each channel over the image."""
    x = _images(x, "ops.global_avg_pool2d")
    return avg_pool2d(x, pool_size=x.shape[1:3]).reshape(x.shape[0], x.shape[3])


def global_avg_pool2d_backward(d_output: np.ndarray,
                               input_shape: tuple[int, ...]) -> np.ndarray:
    """dL/dx (N, H, W, C) of ``global_avg_pool2d`` from d_output (N, C)."""
    op = "ops.global_avg_pool2d_backward"
    input_shape = _input_shape(input_shape, op)
    if min(input_shape[1:3]) < 1:
        raise ValueError(f"{op}: input_shape must have height and width >= 1, got {input_shape}")
    d_output = _global_d_output(d_output, input_shape, op)
    return avg_pool2d_backward(d_output, input_shape, pool_size=input_shape[1:3])


def global_max_pool2d(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C): the maximum of each channel over the image."""
    x = _images(x, "ops.global_max_pool2d")
    return max_pool2d(x, pool_size=x.shape[1:3]).reshape(x.shape[0], x.shape[3])


def global_max_pool2d_backward(d_output: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dL/dx of ``global_max_pool2d``: each channel's gradient goes to its (first) maximum."""
    op = "ops.global_max_pool2d_backward"
    x = _images(x, op)
    d_output = _global_d_output(np.asarray(d_output, dtype=x.dtype), x.shape, op)
    return max_pool2d_backward(d_output, x, pool_size=x.shape[1:3])


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, alpha: float = 1.0, beta: float = 0.0,
         transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """The BLAS update ``c = alpha * op(a) @ op(b) + beta * c``, in place; returns ``c``.

    ``c`` must be a C-contiguous, writeable float32 or float64 array of shape (m, n); ``a`` and
    ``b`` are converted (copied) to its dtype and to C order when they differ.  When ``beta`` is
    0 the old ``c`` is not read, as in BLAS.  For accumulating gradients without a temporary.
    """
    op = "ops.gemm"
    if not isinstance(c, np.ndarray) or c.dtype not in _FLOAT_DTYPES:
        got = getattr(c, "dtype", type(c).__name__)
        raise TypeError(f"{op}: c must be a float32 or float64 numpy array, got {got}")
    if not c.flags.c_contiguous or not c.flags.writeable:
        raise ValueError(f"{op}: c must be C-contiguous and writeable")
    a = np.asarray(a)
    b = np.asarray(b)
    for name, arr in (("a", a), ("b", b)):
        if arr.ndim != 2:
            raise ValueError(f"{op}: {name} must be 2-D, got shape {arr.shape}")
    _result_dtype(op, a, b)  # rejects complex, float16, strings, objects
    a = _as_float_array(a, op, "a", c.dtype)
    b = _as_float_array(b, op, "b", c.dtype)
    m, k = a.shape[::-1] if transpose_a else a.shape
    k_b, n = b.shape[::-1] if transpose_b else b.shape
    if k != k_b:
        raise ValueError(f"{op}: inner dimensions differ: a is {a.shape}, b is {b.shape}")
    if c.shape != (m, n):
        raise ValueError(f"{op}: c must have shape {(m, n)}, got {c.shape}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    kernel = _core.gemm_f64 if c.dtype == np.float64 else _core.gemm_f32
    kernel(c, a, b, bool(transpose_a), bool(transpose_b), float(alpha), float(beta))
    return c


# ----- instruction-set path of the GEMM kernels -----------------------------------------------
# The compiled module picks the best path this CPU supports when it loads; CHALKNET_ISA may
# lower it (DESIGN.md "SIMD").  build_info()["simd"] says which path runs.

import os as _os  # noqa: E402
import warnings as _warnings  # noqa: E402

_ISA_NAMES = ("generic", "avx2", "avx512")


def available_isas() -> list[str]:
    """The GEMM instruction-set paths this build and this CPU can run, best last."""
    return list(_core.available_isas())


def _set_isa(name: str) -> str:
    """Private hook for the tests: run the GEMM kernels (and so conv2d) on the path ``name``.

    Returns the path in use afterwards; an unavailable path leaves it unchanged. Not to be called
    while other threads are inside a kernel.
    """
    if name not in _ISA_NAMES:
        raise ValueError(f"_set_isa: expected one of {_ISA_NAMES}, got {name!r}")
    _core.set_isa(name)
    return build_info()["simd"]


def _apply_isa_request(request: str) -> None:
    """Honour CHALKNET_ISA: switch to the requested path, or warn and keep the detected one."""
    if not request:
        return
    if request not in _ISA_NAMES:
        _warnings.warn(f"CHALKNET_ISA={request!r} is not one of {_ISA_NAMES}; using "
                       f"{build_info()['simd']!r}", RuntimeWarning, stacklevel=3)
        return
    if not _core.set_isa(request):
        _warnings.warn(f"CHALKNET_ISA={request!r} is not supported by this CPU or build "
                       f"(available: {available_isas()}); using {build_info()['simd']!r}",
                       RuntimeWarning, stacklevel=3)


_apply_isa_request(_os.environ.get("CHALKNET_ISA", "").strip().lower())
# ----- recurrent cells: SimpleRNN, LSTM, GRU over whole sequences -----------------------------
# Shapes and equations are in chalknet/reference/recurrent.py (the twins, same signatures).
# x is (B, T, I) batch-major; weights are Keras's; the mask (B, T) marks real steps.  Each
# forward returns a `cache` dict with the same keys as the reference's; its backward reads it.

from .reference.recurrent import ACTIVATIONS as _RNN_ACTIVATIONS  # noqa: E402


def _rnn_activation(name, op, what) -> str:
    if name not in _RNN_ACTIVATIONS:
        raise ValueError(f"{op}: {what} must be one of {sorted(_RNN_ACTIVATIONS)}, got {name!r}")
    return name


def _rnn_mask(mask, batch, steps, op):
    """The mask as a C-contiguous uint8 (B, T) array (1 = real step), or None."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != (batch, steps):
        raise ValueError(f"{op}: mask must have shape {(batch, steps)} (batch, time), "
                         f"got {mask.shape}")
    return np.ascontiguousarray(mask != 0, dtype=np.uint8)


def _rnn_inputs(op, gates, x, initial_states, kernel, recurrent_kernel, bias, mask,
                two_biases=False):
    """Convert and check the arguments of a recurrent op; returns them in the same order.

    initial_states: dict name -> (B, H) array (h0, and c0 for the LSTM).
    """
    x = _as_float_array(x, op, "x")
    if x.ndim != 3:
        raise ValueError(f"{op}: x must be 3-D (batch, time, features), got shape {x.shape}")
    batch, steps, features = x.shape
    if min(batch, steps, features) < 1:
        raise ValueError(f"{op}: x must have batch, time and features >= 1, got {x.shape}")
    dtype = x.dtype
    recurrent_kernel = _as_float_array(recurrent_kernel, op, "recurrent_kernel", dtype)
    units = recurrent_kernel.shape[0] if recurrent_kernel.ndim == 2 else -1
    if units < 1 or recurrent_kernel.shape != (units, gates * units):
        raise ValueError(f"{op}: recurrent_kernel must have shape (units, {gates} * units), "
                         f"got {recurrent_kernel.shape}")
    kernel = _as_float_array(kernel, op, "kernel", dtype)
    if kernel.shape != (features, gates * units):
        raise ValueError(f"{op}: kernel must have shape {(features, gates * units)} "
                         f"(features of x, {gates} * units), got {kernel.shape}")
    states = {}
    for name, value in initial_states.items():
        states[name] = _as_float_array(value, op, name, dtype)
        if states[name].shape != (batch, units):
            raise ValueError(f"{op}: {name} must have shape {(batch, units)} (batch, units), "
                             f"got {states[name].shape}")
    if bias is not None:
        bias = _as_float_array(bias, op, "bias", dtype)
        want = (2, gates * units) if two_biases else (gates * units,)
        if bias.shape != want:
            raise ValueError(f"{op}: bias must have shape {want}, got {bias.shape}")
    return x, states, kernel, recurrent_kernel, bias, _rnn_mask(mask, batch, steps, op)


def _rnn_outputs(states, mask):
    """Outputs are the states, zeroed at masked steps (as Keras does)."""
    if mask is None:
        return states
    return np.where(mask[:, :, None] != 0, states, 0).astype(states.dtype)  # 0 even for NaN


def _rnn_gradients_in(op, cache, d_outputs, final_gradients):
    """dL/d(states) (B, T, H) and the final-state gradients (None or (B, H)), converted."""
    states = cache["states"]
    d_outputs = _as_float_array(d_outputs, op, "d_outputs", states.dtype)
    if d_outputs.shape != states.shape:
        raise ValueError(f"{op}: d_outputs must have shape {states.shape} like the outputs, "
                         f"got {d_outputs.shape}")
    if cache["mask"] is not None:
        d_outputs = np.ascontiguousarray(_rnn_outputs(d_outputs, cache["mask"]))
    finals = []
    for name, value in final_gradients.items():
        if value is not None:
            value = _as_float_array(value, op, name, states.dtype)
            if value.shape != states[:, -1].shape:
                raise ValueError(f"{op}: {name} must have shape {states[:, -1].shape}, "
                                 f"got {value.shape}")
        finals.append(value)
    return d_outputs, finals


def simple_rnn(x: np.ndarray, h0: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
               bias: np.ndarray | None = None, mask: np.ndarray | None = None,
               activation: str = "tanh") -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """SimpleRNN over a whole sequence: h_t = act(x_t . kernel + h_{t-1} . recurrent_kernel + b).

    x (B, T, I), h0 (B, H), kernel (I, H), recurrent_kernel (H, H), bias (H,) or None,
    mask (B, T) or None; activation "tanh" or "relu" (or "linear", "sigmoid", "hard_sigmoid").
    Returns (outputs (B, T, H), h_T (B, H), cache).  The dtype is x's; the others are converted
    (copied) to it when they differ.
    """
    op = "ops.simple_rnn"
    activation = _rnn_activation(activation, op, "activation")
    x, states0, kernel, recurrent_kernel, bias, mask = _rnn_inputs(
        op, 1, x, {"h0": h0}, kernel, recurrent_kernel, bias, mask)
    h0 = states0["h0"]
    states, _, _ = _core.simple_rnn_forward(x, h0, None, kernel, recurrent_kernel, bias, mask,
                                            activation, "sigmoid")
    cache = {"x": x, "h0": h0, "kernel": kernel, "recurrent_kernel": recurrent_kernel,
             "bias": bias, "mask": mask, "activation": activation, "states": states}
    return _rnn_outputs(states, mask), states[:, -1].copy(), cache


def simple_rnn_backward(d_outputs: np.ndarray, d_h_final: np.ndarray | None,
                        cache: dict[str, Any]) -> tuple[np.ndarray | None, ...]:
    """Backpropagation through time for ``simple_rnn``.

    d_outputs (B, T, H) = dL/d(outputs), d_h_final (B, H) = dL/dh_T or None.
    Returns (d_x, d_h0, d_kernel, d_recurrent_kernel, d_bias or None).
    """
    op = "ops.simple_rnn_backward"
    d_states, (d_h_final,) = _rnn_gradients_in(op, cache, d_outputs, {"d_h_final": d_h_final})
    d_x, d_h0, _, d_kernel, d_recurrent, d_bias = _core.simple_rnn_backward(
        d_states, d_h_final, None, cache["x"], cache["h0"], None, cache["kernel"],
        cache["recurrent_kernel"], cache["bias"] is not None, cache["states"], None, None,
        cache["mask"], cache["activation"], "sigmoid")
    return d_x, d_h0, d_kernel, d_recurrent, d_bias


def lstm(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, kernel: np.ndarray,
         recurrent_kernel: np.ndarray, bias: np.ndarray | None = None,
         mask: np.ndarray | None = None, activation: str = "tanh",
         recurrent_activation: str = "sigmoid",
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """LSTM over a whole sequence (Keras's gates i, f, c, o; see reference.lstm).

    x (B, T, I), h0 and c0 (B, H), kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or
    None, mask (B, T) or None.  Returns (outputs (B, T, H), h_T (B, H), c_T (B, H), cache);
    cache["gates"] (B, T, 4H) holds i, f, g, o after their activations, cache["cells"] c_t.
    """
    op = "ops.lstm"
    activation = _rnn_activation(activation, op, "activation")
    recurrent_activation = _rnn_activation(recurrent_activation, op, "recurrent_activation")
    x, states0, kernel, recurrent_kernel, bias, mask = _rnn_inputs(
        op, 4, x, {"h0": h0, "c0": c0}, kernel, recurrent_kernel, bias, mask)
    h0, c0 = states0["h0"], states0["c0"]
    states, cells, gates = _core.lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, mask,
                                              activation, recurrent_activation)
    cache = {"x": x, "h0": h0, "c0": c0, "kernel": kernel, "recurrent_kernel": recurrent_kernel,
             "bias": bias, "mask": mask, "activation": activation,
             "recurrent_activation": recurrent_activation,
             "states": states, "cells": cells, "gates": gates}
    return _rnn_outputs(states, mask), states[:, -1].copy(), cells[:, -1].copy(), cache


def lstm_backward(d_outputs: np.ndarray, d_h_final: np.ndarray | None,
                  d_c_final: np.ndarray | None,
                  cache: dict[str, Any]) -> tuple[np.ndarray | None, ...]:
    """Backpropagation through time for ``lstm``.

    d_outputs (B, T, H); d_h_final, d_c_final (B, H) or None.
    Returns (d_x, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias or None).
    """
    op = "ops.lstm_backward"
    d_states, (d_h_final, d_c_final) = _rnn_gradients_in(
        op, cache, d_outputs, {"d_h_final": d_h_final, "d_c_final": d_c_final})
    return tuple(_core.lstm_backward(
        d_states, d_h_final, d_c_final, cache["x"], cache["h0"], cache["c0"], cache["kernel"],
        cache["recurrent_kernel"], cache["bias"] is not None, cache["states"], cache["cells"],
        cache["gates"], cache["mask"], cache["activation"], cache["recurrent_activation"]))


def gru(x: np.ndarray, h0: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
        bias: np.ndarray | None = None, mask: np.ndarray | None = None,
        activation: str = "tanh", recurrent_activation: str = "sigmoid",
        ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """GRU over a whole sequence (Keras's reset_after=True; gates z, r, h; see reference.gru).

    x (B, T, I), h0 (B, H), kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) (input
    bias, recurrent bias) or None, mask (B, T) or None.  Returns (outputs (B, T, H),
    h_T (B, H), cache); cache["gates"] holds z, r, h~, cache["recurrent_h"] u_h.
    """
    op = "ops.gru"
    activation = _rnn_activation(activation, op, "activation")
    recurrent_activation = _rnn_activation(recurrent_activation, op, "recurrent_activation")
    x, states0, kernel, recurrent_kernel, bias, mask = _rnn_inputs(
        op, 3, x, {"h0": h0}, kernel, recurrent_kernel, bias, mask, two_biases=True)
    h0 = states0["h0"]
    states, gates, recurrent_h = _core.gru_forward(x, h0, None, kernel, recurrent_kernel, bias,
                                                   mask, activation, recurrent_activation)
    cache = {"x": x, "h0": h0, "kernel": kernel, "recurrent_kernel": recurrent_kernel,
             "bias": bias, "mask": mask, "activation": activation,
             "recurrent_activation": recurrent_activation,
             "states": states, "gates": gates, "recurrent_h": recurrent_h}
    return _rnn_outputs(states, mask), states[:, -1].copy(), cache


def gru_backward(d_outputs: np.ndarray, d_h_final: np.ndarray | None,
                 cache: dict[str, Any]) -> tuple[np.ndarray | None, ...]:
    """Backpropagation through time for ``gru``.

    d_outputs (B, T, H), d_h_final (B, H) or None.
    Returns (d_x, d_h0, d_kernel, d_recurrent_kernel, d_bias (2, 3H) or None).
    """
    op = "ops.gru_backward"
    d_states, (d_h_final,) = _rnn_gradients_in(op, cache, d_outputs, {"d_h_final": d_h_final})
    d_x, d_h0, _, d_kernel, d_recurrent, d_bias = _core.gru_backward(
        d_states, d_h_final, None, cache["x"], cache["h0"], None, cache["kernel"],
        cache["recurrent_kernel"], cache["bias"] is not None, cache["states"], cache["gates"],
        cache["recurrent_h"], cache["mask"], cache["activation"], cache["recurrent_activation"])
    return d_x, d_h0, d_kernel, d_recurrent, d_bias
# ----- CTC: connectionist temporal classification (the Cython module chalknet._ctc) -----------
# The argument checks are the reference's (pure NumPy), so ops and reference raise the same
# errors; the Cython functions check every index again before they release the GIL.

from . import _ctc  # noqa: E402
from .reference.ctc import (  # noqa: E402  (pure NumPy, no kernels)
    check_decode_arguments,
    check_loss_arguments,
    pack_decoded,
)

# Each thread gets at least this many alpha/beta cells (about 15 us of work): below that, the
# hand-off to another thread costs about what it saves.  Measured with T=50, L=5 (550 cells a
# sample) on a loaded 2-core machine, 2 threads already beat 1 at batch 2 (23 vs 37 us).
_CTC_CELLS_PER_THREAD = 512


def _ctc_threads(batch: int, cells: int) -> int:
    return max(1, min(get_num_threads(), batch, cells // _CTC_CELLS_PER_THREAD))


def _ctc_cells(label_lengths, logit_lengths) -> int:
    """Cells of the alpha (and beta) tables: sum over samples of T_b * (2 L_b + 1)."""
    return int(np.dot(logit_lengths.astype(np.int64), 2 * label_lengths.astype(np.int64) + 1))


def ctc_loss_and_gradient(labels: np.ndarray, logits: np.ndarray, label_lengths: np.ndarray,
                          logit_lengths: np.ndarray, blank: int = 0,
                          zero_infinity: bool = False) -> tuple:
    """CTC loss per sample and its gradient with respect to the logits.

    labels (batch, max_label_length) integers, of which the first label_lengths[b] of row b
    are used (classes in [0, classes) other than ``blank``; the padding is never read);
    logits (batch, time, classes) unnormalised scores (the softmax is taken inside), of which
    the first logit_lengths[b] steps of sample b are used.

    Returns (losses (batch,), d_logits (batch, time, classes)) in the dtype of logits (float32
    or float64; integer logits become float32; the arithmetic is double precision inside):
    losses[b] = -ln p(labels[b] | logits[b]) and d_logits[b] its gradient, zero past the
    sample's logit length.  A label that cannot be aligned in its time steps (it needs one
    step per label plus one between equal neighbours) gives loss +inf and gradient 0, or loss
    0 with ``zero_infinity=True`` (as PyTorch's option).  The sum over samples' gradient is
    d_logits itself: divide by the batch size for a mean loss.
    """
    labels, logits, label_lengths, logit_lengths, blank = check_loss_arguments(
        "ops.ctc_loss_and_gradient", labels, logits, label_lengths, logit_lengths, blank)
    losses = np.empty(logits.shape[0], dtype=logits.dtype)
    d_logits = np.empty_like(logits)
    _ctc.ctc_loss_and_gradient(losses, d_logits, logits, labels, label_lengths, logit_lengths,
                               blank, _ctc_threads(len(losses), _ctc_cells(label_lengths,
                                                                           logit_lengths)))
    if zero_infinity:
        losses[np.isinf(losses)] = 0
    return losses, d_logits


def ctc_loss(labels: np.ndarray, logits: np.ndarray, label_lengths: np.ndarray,
             logit_lengths: np.ndarray, blank: int = 0,
             zero_infinity: bool = False) -> np.ndarray:
    """Per-sample CTC losses -ln p(labels[b] | logits[b]), shape (batch,) (Graves et al. 2006).
    Arguments as ``ctc_loss_and_gradient``, which also returns the gradient; this one runs the
    forward (alpha) pass only, about half the work."""
    labels, logits, label_lengths, logit_lengths, blank = check_loss_arguments(
        "ops.ctc_loss", labels, logits, label_lengths, logit_lengths, blank)
    losses = np.empty(logits.shape[0], dtype=logits.dtype)
    _ctc.ctc_loss(losses, logits, labels, label_lengths, logit_lengths, blank,
                  _ctc_threads(len(losses), _ctc_cells(label_lengths, logit_lengths)))
    if zero_infinity:
        losses[np.isinf(losses)] = 0
    return losses


def ctc_decode(logits: np.ndarray, logit_lengths: np.ndarray, greedy: bool = True,
               beam_width: int = 100, top_paths: int = 1, blank: int = 0) -> tuple:
    """Decode CTC outputs, as Keras's ``ctc_decode``.

    logits (batch, time, classes), logit_lengths (batch,).  ``greedy=True``: best path (the
    most probable class per step, the first on ties; repeats merged, blanks dropped).
    ``greedy=False``: prefix beam search keeping ``beam_width`` prefixes, ``top_paths`` best.

    Returns ``(decoded, log_probabilities)``: decoded is a list of ``top_paths`` int32 arrays
    (batch, longest decoded length), labels left-aligned and padded with -1 (so
    ``decoded[0][b]`` is sample b's best labelling); log_probabilities (batch, top_paths) in the
    dtype of logits: for greedy, ln p(best path); for beam search, ln p(labels) summed over the
    alignments kept in the beam (-inf where fewer than ``top_paths`` labellings exist).
    """
    logits, logit_lengths, blank = check_decode_arguments(
        "ops.ctc_decode", logits, logit_lengths, greedy, beam_width, top_paths, blank)
    batch, time = logits.shape[:2]
    if not greedy:
        paths = _ctc.beam_decode(logits, logit_lengths, int(beam_width), int(top_paths), blank)
        paths = [[(np.array(labels, dtype=np.int32), score) for labels, score in sample]
                 for sample in paths]
        decoded, log_probabilities = pack_decoded(paths, top_paths)
        return decoded, log_probabilities.astype(logits.dtype)
    labels = np.empty((batch, time), dtype=np.int32)
    lengths = np.empty(batch, dtype=np.int32)
    log_probabilities = np.empty(batch, dtype=logits.dtype)
    _ctc.greedy_decode(labels, lengths, log_probabilities, logits, logit_lengths, blank,
                       _ctc_threads(batch, logits.size))
    width = int(lengths.max(initial=0))
    labels = labels[:, :width]
    labels[np.arange(width) >= lengths[:, None]] = -1
    return [np.ascontiguousarray(labels)], log_probabilities[:, None]
