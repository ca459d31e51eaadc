"""Datasets: ``mnist`` (downloaded once into a cache folder), ``mnist_mini`` (real digits that
ship with chalknet, for offline lessons), and small synthetic sets (``synthetic``)."""

from . import mnist, mnist_mini, synthetic
from .synthetic import polynomial_regression, spirals, xor

__all__ = ["mnist", "mnist_mini", "polynomial_regression", "spirals", "synthetic", "xor"]
