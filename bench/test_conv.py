"""pytest-benchmark view of bench/suites/conv.py: one group per workload, engines side by side.

    python -m pytest bench/test_conv.py --benchmark-group-by=group
"""

import os

import pytest

import chalknet
from suites import conv

THREADS = int(os.environ.get("CHALKNET_BENCH_THREADS", chalknet.get_num_threads()))
chalknet.set_num_threads(THREADS)
WORKLOADS = conv.workloads(THREADS)
CASES = [(w, engine) for w in WORKLOADS for engine in w.engines]


@pytest.mark.parametrize("workload, engine", CASES,
                         ids=[f"{w.group}-{engine}" for w, engine in CASES])
def test_conv(benchmark, workload, engine):
    benchmark.group = workload.group
    if engine == "reference":
        benchmark.pedantic(workload.engines[engine], rounds=2, iterations=1)
    else:
        benchmark(workload.engines[engine])
