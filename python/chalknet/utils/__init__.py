"""Utilities: random seeds (more arrive with the engine)."""

from __future__ import annotations

from .random import get_rng, set_random_seed

__all__ = ["get_rng", "set_random_seed"]

# ----- gradient checking and array helpers (branch layers) ------------------------------------
from .gradient_check import (
    GradientCheckReport,
    gradient_check,
    numerical_gradient,
    relative_error,
)
from .numpy_utils import normalize, to_categorical

__all__ += ["GradientCheckReport", "gradient_check", "normalize", "numerical_gradient",
            "relative_error", "to_categorical"]

# ----- data splitting, cross-validation and plotting (branch train) ---------------------------
from .data import KFold, cross_validate, train_test_split
from .plotting import plot_history

__all__ += ["KFold", "cross_validate", "plot_history", "train_test_split"]
