"""chalknet: an educational neural-network engine with a Keras-style API and fast kernels."""

from ._version import __version__
from .ops import build_info, get_num_threads, set_num_threads

__all__ = ["__version__", "build_info", "get_num_threads", "set_num_threads"]

# ----- the engine's math half (branch layers) -------------------------------------------------
from . import activations, initializers, layers, losses, metrics, regularizers

__all__ += ["activations", "initializers", "layers", "losses", "metrics", "regularizers"]

# ----- the engine's training half (branch train) ----------------------------------------------
from . import callbacks, datasets, models, optimizers, utils
from .models import Input, Model, Sequential

__all__ += ["Input", "Model", "Sequential", "callbacks", "datasets", "models", "optimizers",
            "utils"]

# ----- the course: closed-form classics and the chapters (branch course) ----------------------
from . import classic, course

__all__ += ["classic", "course"]
