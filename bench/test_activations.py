"""pytest-benchmark view of bench/suites/activations.py: engines side by side.

    python -m pytest bench/test_activations.py --benchmark-group-by=group
"""

import os

import pytest

import chalknet
from suites import activations

THREADS = int(os.environ.get("CHALKNET_BENCH_THREADS", chalknet.get_num_threads()))
chalknet.set_num_threads(THREADS)
WORKLOADS = activations.workloads(THREADS)
CASES = [(w, engine) for w in WORKLOADS for engine in w.engines]


@pytest.mark.parametrize("workload, engine", CASES,
                         ids=[f"{w.group}-{engine}" for w, engine in CASES])
def test_activations(benchmark, workload, engine):
    benchmark.group = workload.group
    if engine == "reference":
        benchmark.pedantic(workload.engines[engine], rounds=2, iterations=1)
    else:
        benchmark(workload.engines[engine])
