"""Utilities: random seeds (more arrive with the engine)."""

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
