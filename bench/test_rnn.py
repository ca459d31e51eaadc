"""pytest-benchmark view of bench/suites/rnn.py: one group per workload, engines side by side.

    python -m pytest bench/test_rnn.py --benchmark-group-by=group
"""

import pytest

from pytest_view import cases, time_case
from suites import rnn


@pytest.mark.parametrize("workload, engine", cases(rnn))
def test_rnn(benchmark, workload, engine):
    time_case(benchmark, workload, engine)
