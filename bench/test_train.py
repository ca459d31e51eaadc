"""pytest-benchmark view of bench/suites/train.py: whole training steps, engines side by side.

    python -m pytest bench/test_train.py --benchmark-group-by=group
"""

import os

import pytest

import chalknet
from suites import train

THREADS = int(os.environ.get("CHALKNET_BENCH_THREADS", chalknet.get_num_threads()))
chalknet.set_num_threads(THREADS)
WORKLOADS = train.workloads(THREADS)
CASES = [(w, engine) for w in WORKLOADS for engine in w.engines]


@pytest.mark.parametrize("workload, engine", CASES,
                         ids=[f"{w.group}-{engine}" for w, engine in CASES])
def test_train_step(benchmark, workload, engine):
    benchmark.group = workload.group
    benchmark(workload.engines[engine])
