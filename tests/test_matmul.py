"""ops.matmul against the NumPy reference."""

import numpy as np
import pytest

from chalknet import ops, reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_matches_reference(dtype, transpose_a, transpose_b):
    rng = np.random.default_rng(1)
    m, k, n = 37, 53, 29
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    got = ops.matmul(a, b, transpose_a, transpose_b)
    want = reference.matmul(a.astype(np.float64), b.astype(np.float64), transpose_a, transpose_b)
    assert got.shape == (m, n) and got.dtype == dtype
    bound = k * np.finfo(dtype).eps * np.max(np.abs(a)) * np.max(np.abs(b))
    np.testing.assert_allclose(got, want, rtol=0, atol=bound)


def test_inner_dimension_error():
    with pytest.raises(ValueError, match=r"ops.matmul: inner dimensions differ: a is \(3, 4\), b is \(5, 6\)"):
        ops.matmul(np.zeros((3, 4), np.float32), np.zeros((5, 6), np.float32))
