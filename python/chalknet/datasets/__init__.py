"""Datasets: ``mnist`` and ``tinyshakespeare`` (downloaded once into a cache folder),
``mnist_mini`` (real digits that ship with chalknet, for offline lessons), and small synthetic
sets (``synthetic``)."""

from __future__ import annotations

from . import mnist, mnist_mini, synthetic, tinyshakespeare
from .synthetic import polynomial_regression, sine_sequences, spirals, xor

__all__ = ["mnist", "mnist_mini", "polynomial_regression", "sine_sequences", "spirals",
           "synthetic", "tinyshakespeare", "xor"]
