"""Functional ops on NumPy arrays, backed by the compiled kernels in ``chalknet._core``.

This is the only Python module that imports ``_core``. Every op here has a twin with the same
signature in :mod:`chalknet.reference`, written in plain NumPy to be read; the tests compare the
two. Each op checks its arguments and raises an error that names the op, what it expected and
what it received, before any kernel runs.
"""

from __future__ import annotations

import numpy as np

from . import _core

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _as_float_array(x, op: str, name: str, dtype=None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32/float64 array (a copy only when needed)."""
    arr = np.asarray(x)
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
        if arr.dtype.kind not in "fiub" or arr.dtype.kind == "f" and arr.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                f"{op}: {name} must be float32 or float64 (or integer), got dtype {arr.dtype}"
            )
    if np.float64 in (a.dtype, b.dtype):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False, out=None) -> np.ndarray:
    """Matrix product ``op(a) @ op(b)`` where ``op`` transposes when asked.

    a: (m, k), or (k, m) with ``transpose_a``;  b: (k, n), or (n, k) with ``transpose_b``.
    Returns (m, n). The result is float64 when either input is float64, else float32.
    Inputs that are not C-contiguous or not of the result dtype are converted (copied) once;
    ``out``, when given, must already be a C-contiguous array of the result dtype and shape.
    """
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


def build_info() -> dict:
    """How this build was made and what it runs: version, compiler, OpenMP, SIMD level, threads."""
    return dict(_core.build_info())
