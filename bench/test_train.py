"""pytest-benchmark view of bench/suites/train.py: whole training steps, engines side by side.

    python -m pytest bench/test_train.py --benchmark-group-by=group
"""

import pytest

from pytest_view import cases, time_case
from suites import train


@pytest.mark.parametrize("workload, engine", cases(train))
def test_train_step(benchmark, workload, engine):
    time_case(benchmark, workload, engine)
