"""Benchmark suites for bench/compare.py: each module ``<family>.py`` defines
``workloads(threads) -> list[Workload]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Workload:
    """One row of the comparison table: engines (name -> zero-argument callable) run the same
    computation on the same inputs; ``flops`` (optional) turns times into GFLOP/s."""

    group: str
    engines: dict[str, Callable[[], object]] = field(default_factory=dict)
    flops: float | None = None
