"""chalknet: an educational neural-network engine with a Keras-style API and fast kernels."""

import os as _os

# OpenMP threads that finish early spin, waiting for the others; on a machine with more busy
# threads than cores they spin on the core the others need, and a 1 ms step can take 50 ms.
# A short spin (libgomp reads this when the compiled module loads it) keeps idle-machine speed
# and avoids that; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.  See DESIGN.md.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "1000"

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
# ----- the CNN chapter: what a CNN sees (branch vision) -----------------------------------------
from . import vision

__all__ += ["vision"]

# ----- the course's generative models (branch gan) --------------------------------------------
from . import gan

__all__ += ["gan"]

# ----- reinforcement learning: REINFORCE (branch rl) -------------------------------------------
from . import rl

__all__ += ["rl"]
