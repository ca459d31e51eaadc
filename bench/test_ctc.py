"""pytest-benchmark view of bench/suites/ctc.py: one group per workload, engines side by side.

    python -m pytest bench/test_ctc.py --benchmark-group-by=group
"""

import pytest

from pytest_view import cases, time_case
from suites import ctc


@pytest.mark.parametrize("workload, engine", cases(ctc))
def test_ctc(benchmark, workload, engine):
    time_case(benchmark, workload, engine)
