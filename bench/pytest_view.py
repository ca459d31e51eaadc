"""What every bench/test_<suite>.py shares: a suite's workloads as pytest cases, one per
(workload, engine), each timed in its workload's group so `--benchmark-group-by=group` puts the
engines side by side.  The thread count comes from CHALKNET_BENCH_THREADS (default: chalknet's).
"""

import os

import pytest

import chalknet

THREADS = int(os.environ.get("CHALKNET_BENCH_THREADS", chalknet.get_num_threads()))


def cases(suite) -> list:
    """pytest params (workload, engine) for every engine of every workload of ``suite``."""
    chalknet.set_num_threads(THREADS)
    return [pytest.param(w, engine, id=f"{w.group}-{engine}")
            for w in suite.workloads(THREADS) for engine in w.engines]


def time_case(benchmark, workload, engine) -> None:
    """Times one engine; the slow NumPy reference gets two rounds only."""
    benchmark.group = workload.group
    if engine == "reference":
        benchmark.pedantic(workload.engines[engine], rounds=2, iterations=1)
    else:
        benchmark(workload.engines[engine])
