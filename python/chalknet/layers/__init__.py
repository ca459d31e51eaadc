"""Layers: configuration and parameters around the ops, each with forward and backward."""

from .base import Layer

__all__ = ["Layer"]
