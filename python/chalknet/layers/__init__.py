"""Layers: configuration and parameters around the ops, each with forward and backward."""

from .base import Layer, get_layer_class

__all__ = ["Layer", "get_layer_class"]
