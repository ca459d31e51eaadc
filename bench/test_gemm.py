"""pytest-benchmark view of bench/suites/gemm.py: one group per workload, engines side by side.

    python -m pytest bench/test_gemm.py --benchmark-group-by=group
"""

import pytest

from pytest_view import THREADS, cases, time_case
from suites import gemm

try:  # NumPy's BLAS gets the same thread count (held for the whole session)
    from threadpoolctl import threadpool_limits
    _BLAS_LIMIT = threadpool_limits(THREADS)
except ImportError:
    _BLAS_LIMIT = None


@pytest.mark.parametrize("workload, engine", cases(gemm))
def test_gemm(benchmark, workload, engine):
    time_case(benchmark, workload, engine)
