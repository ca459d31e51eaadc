"""pytest-benchmark view of bench/suites/conv.py: one group per workload, engines side by side.

    python -m pytest bench/test_conv.py --benchmark-group-by=group
"""

import pytest

from pytest_view import cases, time_case
from suites import conv


@pytest.mark.parametrize("workload, engine", cases(conv))
def test_conv(benchmark, workload, engine):
    time_case(benchmark, workload, engine)
