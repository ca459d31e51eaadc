"""One random generator for the whole library, so ``set_random_seed`` makes runs repeatable."""

from __future__ import annotations

import random

import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed chalknet's generator (weights, dropout, shuffling), NumPy's and Python's."""
    global _rng
    _rng = np.random.default_rng(seed)
    np.random.seed(seed)
    random.seed(seed)


def get_rng() -> np.random.Generator:
    """The generator every random draw in chalknet uses."""
    return _rng
