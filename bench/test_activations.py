"""pytest-benchmark view of bench/suites/activations.py: relu backward, engines side by side.

    python -m pytest bench/test_activations.py --benchmark-group-by=group
"""

import pytest

from pytest_view import cases, time_case
from suites import activations


@pytest.mark.parametrize("workload, engine", cases(activations))
def test_activations(benchmark, workload, engine):
    time_case(benchmark, workload, engine)
