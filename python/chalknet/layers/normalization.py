"""Normalization: feature scaling with statistics learned by ``adapt`` (as Keras's layer)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .base import Layer
from .core import _check_gradient_shape, _require_cache

# Keras's epsilon: a feature with zero variance is divided by this instead of by 0.
EPSILON = 1e-7


class Normalization(Layer):
    """y = (x - mean) / sqrt(variance): every feature scaled to mean 0 and variance 1.

    ``layer.adapt(x_train)`` computes mean and variance of each feature of the training data
    (over the batch and every axis not in ``axis``); or pass ``mean=`` and ``variance=``.
    axis: the axis (or tuple of axes) that keeps its own statistics, -1 (the features) by
    default; None gives one mean and variance for all values.

    The statistics are non-trainable weights ``mean``, ``variance`` and ``count`` (the number of
    values each statistic was computed from), so they are saved with the model.

    Backward: dL/dx = dy / sqrt(variance). (Gradients for mean and variance are stored too,
    dL/dmean = -sum dy / sqrt(variance) and dL/dvariance = -sum dy (x - mean) / (2 variance^1.5),
    so a gradient check covers the whole formula; an optimizer never applies them because the
    weights are not trainable.)
    """

    supports_masking = True

    def __init__(self, axis: int | Iterable[int] | None = -1,
                 mean: np.ndarray | float | None = None,
                 variance: np.ndarray | float | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither")
        if axis is None:
            self.axis = ()
        elif np.ndim(axis) == 0:
            self.axis = (int(axis),)
        else:
            self.axis = tuple(int(a) for a in axis)
        if 0 in self.axis:
            raise ValueError("Normalization: axis 0 is the batch axis; it cannot keep statistics")
        self._given_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self._given_variance = None if variance is None else np.asarray(variance, np.float64)
        self.adapted = mean is not None

    def _kept_axes(self, rank):
        """The kept axes as non-negative positions in a full (batch-included) shape."""
        kept = []
        for a in self.axis:
            position = a + rank if a < 0 else a
            if not 1 <= position < rank:
                raise ValueError(f"{self._describe()}: axis {a} is out of range for inputs of "
                                 f"rank {rank}")
            kept.append(position)
        return sorted(kept)

    def build(self, input_shape: tuple[int, ...]) -> None:
        rank = len(input_shape) + 1
        kept = self._kept_axes(rank)
        # statistics broadcast against (batch, *input_shape): size 1 on the reduced axes
        shape = tuple(input_shape[a - 1] if a in kept else 1 for a in range(1, rank))
        self.add_weight("mean", shape, "zeros", trainable=False)
        self.add_weight("variance", shape, "ones", trainable=False)
        self.add_weight("count", (), "zeros", trainable=False)
        if self._given_mean is not None:
            try:
                self.mean[...] = np.broadcast_to(self._given_mean, shape)
                self.variance[...] = np.broadcast_to(self._given_variance, shape)
            except ValueError:
                raise ValueError(
                    f"{self._describe()}: mean {self._given_mean.shape} and variance "
                    f"{self._given_variance.shape} do not broadcast to the statistics shape "
                    f"{shape} of inputs (None, *{tuple(input_shape)})"
                ) from None
        self.built = True

    def adapt(self, data: np.ndarray) -> None:
        """Learn mean and variance from ``data`` (a NumPy array with the batch axis first)."""
        data = np.asarray(data, dtype=np.float64)
        if data.ndim < 2:
            data = data.reshape(-1, 1)
        self.maybe_build(data.shape[1:])
        self._check_input_shape(data.shape)
        kept = self._kept_axes(data.ndim)
        reduced = tuple(a for a in range(data.ndim) if a not in kept)
        self.mean[...] = data.mean(axis=reduced, keepdims=True)[0]
        self.variance[...] = data.var(axis=reduced, keepdims=True)[0]
        self.count[...] = data.size // max(self.mean.size, 1)
        self.adapted = True

    def set_weights(self, weights: Iterable[np.ndarray]) -> None:
        super().set_weights(weights)
        self.adapted = True

    def _std(self):
        return np.maximum(np.sqrt(self.variance), EPSILON)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=0)
        if not self.adapted:
            raise RuntimeError(f"{self._describe()}: call adapt(x_train) first, or pass mean= "
                               "and variance=, so that the layer knows the statistics")
        self._x = x
        return (x - self.mean) / self._std()

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = _require_cache(self, "_x")
        dy = _check_gradient_shape(self, dy, x.shape)
        std = self._std()
        reduced = tuple(a for a in range(x.ndim) if a == 0 or self.mean.shape[a - 1] == 1)
        d_mean = -np.sum(dy, axis=reduced, keepdims=True)[0] / std
        # d/dvar of (x - m) var^(-1/2) is -(x - m) var^(-3/2) / 2 (0 where var is clamped)
        d_std = -np.sum(dy * (x - self.mean), axis=reduced, keepdims=True)[0] / std**2
        d_variance = np.where(np.sqrt(self.variance) > EPSILON, d_std / (2 * std), 0)
        self.set_gradient("mean", d_mean.astype(self.dtype))
        self.set_gradient("variance", d_variance.astype(self.dtype))
        self.set_gradient("count", np.zeros((), dtype=self.dtype))
        return dy / std

    def get_config(self) -> dict:
        config = super().get_config()
        given = self._given_mean is not None
        config.update(
            axis=list(self.axis) if len(self.axis) != 1 else self.axis[0],
            mean=self._given_mean.tolist() if given else None,
            variance=self._given_variance.tolist() if given else None,
        )
        if not self.axis:
            config["axis"] = None
        return config
