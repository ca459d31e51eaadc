"""Utilities: random seeds (more arrive with the engine)."""

from .random import get_rng, set_random_seed

__all__ = ["get_rng", "set_random_seed"]
