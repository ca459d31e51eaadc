"""pytest-benchmark view of bench/suites/gemm.py: one group per workload, engines side by side.

    python -m pytest bench/test_gemm.py --benchmark-group-by=group
"""

import os

import pytest

import chalknet
from suites import gemm

THREADS = int(os.environ.get("CHALKNET_BENCH_THREADS", chalknet.get_num_threads()))
chalknet.set_num_threads(THREADS)
try:  # NumPy's BLAS gets the same thread count (held for the whole session)
    from threadpoolctl import threadpool_limits
    _BLAS_LIMIT = threadpool_limits(THREADS)
except ImportError:
    _BLAS_LIMIT = None
WORKLOADS = gemm.workloads(THREADS)
CASES = [(w, engine) for w in WORKLOADS for engine in w.engines]


@pytest.mark.parametrize("workload, engine", CASES,
                         ids=[f"{w.group}-{engine}" for w, engine in CASES])
def test_gemm(benchmark, workload, engine):
    benchmark.group = workload.group
    benchmark(workload.engines[engine])
