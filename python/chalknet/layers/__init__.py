"""Layers: configuration and parameters around the ops, each with forward and backward."""

from .base import Layer, get_layer_class

__all__ = ["Layer", "get_layer_class"]

# ----- the engine's layers (branch layers) ----------------------------------------------------
from .core import Activation, Dense, Flatten, InputLayer, Reshape

__all__ += ["Activation", "Dense", "Flatten", "InputLayer", "Reshape"]
