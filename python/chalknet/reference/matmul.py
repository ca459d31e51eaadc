"""Matrix multiply, the reference for ``chalknet.ops.matmul``."""

import numpy as np


def matmul(a, b, transpose_a=False, transpose_b=False, out=None):
    """``op(a) @ op(b)``: entry (i, j) of the result is sum over p of op(a)[i, p] * op(b)[p, j].

    a: (m, k) or, transposed, (k, m);  b: (k, n) or, transposed, (n, k);  result: (m, n).
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if transpose_a:
        a = a.T
    if transpose_b:
        b = b.T
    dtype = np.float64 if np.float64 in (a.dtype, b.dtype) else np.float32
    result = np.dot(a.astype(dtype, copy=False), b.astype(dtype, copy=False))
    if out is not None:
        out[...] = result
        return out
    return result


def gemm(a, b, c, alpha=1.0, beta=0.0, transpose_a=False, transpose_b=False):
    """The BLAS update ``c = alpha * op(a) @ op(b) + beta * c``, in place; returns ``c``.

    When ``beta`` is 0 the old ``c`` is not read (NaN in it does not matter), as in BLAS.
    """
    product = matmul(a, b, transpose_a, transpose_b).astype(c.dtype, copy=False)
    if beta == 0:
        c[...] = alpha * product
    else:
        c[...] = alpha * product + beta * c
    return c
