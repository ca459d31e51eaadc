"""Activation layers: ReLU, LeakyReLU, PReLU (learned slope), Maxout and Softmax."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import activations, initializers, regularizers
from .base import Layer
from .core import _check_gradient_shape, _require_cache

if TYPE_CHECKING:
    from .base import InitializerLike, RegularizerLike


class ReLU(Layer):
    """Rectified linear unit, with Keras's options:

        f(x) = max_value                          for x >= max_value
               x                                  for threshold <= x < max_value
               negative_slope * (x - threshold)   for x < threshold

    f'(x) is 0, 1 and negative_slope on the three pieces. The defaults give max(x, 0).
    """

    supports_masking = True

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be >= 0, got {max_value}")
        if negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    def _derivative(self, x):
        # at x == threshold exactly (the kink) the lower piece's slope, so relu'(0) = 0 as in
        # chalknet.activations.relu and TensorFlow
        slope = np.where(x > self.threshold, 1.0, self.negative_slope)
        if self.max_value is not None:
            slope = np.where(x >= self.max_value, 0.0, slope)
        return slope.astype(self.dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=0)
        y = np.where(x >= self.threshold, x, self.negative_slope * (x - self.threshold))
        if self.max_value is not None:
            y = np.minimum(y, self.max_value)
        self._x = x
        return y.astype(self.dtype, copy=False)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = _require_cache(self, "_x")
        return _check_gradient_shape(self, dy, x.shape) * self._derivative(x)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope,
                      threshold=self.threshold)
        return config


class LeakyReLU(Layer):
    """f(x) = x for x > 0, negative_slope * x otherwise;  f'(x) = 1 or negative_slope.

    The default slope is 0.01, the value of the course (and of Maas et al., 2013, who proposed
    it). Keras 3 defaults to 0.2, so ``LeakyReLU()`` here equals Keras's
    ``LeakyReLU(negative_slope=0.01)``. ``alpha=`` (Keras 2's name) is accepted as well.
    """

    supports_masking = True

    def __init__(self, negative_slope: float = 0.01, alpha: float | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        slope = negative_slope if alpha is None else alpha
        if not isinstance(slope, numbers.Real):
            raise TypeError(f"LeakyReLU: negative_slope must be a number, got {slope!r}")
        self.negative_slope = float(slope)
        self._function = activations.LeakyReLU(self.negative_slope)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=0)
        self._x = x
        return self._function(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = _require_cache(self, "_x")
        dy = _check_gradient_shape(self, dy, x.shape)
        return self._function.backward(x, None, dy)

    def get_config(self) -> dict:
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class PReLU(Layer):
    """Parametric ReLU (He et al., 2015): f(x) = x for x > 0, alpha * x otherwise, with a
    learned alpha shaped like the input's feature axes (batch axis excluded).

    shared_axes: axes (1-based, counting the batch axis as 0, as Keras) along which one alpha is
    shared, e.g. ``shared_axes=[1, 2]`` for images gives one alpha per channel.

    Backward:  dL/dx = dy * (1 if x > 0 else alpha);
               dL/dalpha = sum of dy * x over the entries where x <= 0 that share that alpha.
    """

    supports_masking = True

    def __init__(self, alpha_initializer: InitializerLike = "zeros",
                 alpha_regularizer: RegularizerLike = None,
                 shared_axes: int | Iterable[int] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._alpha_initializer_config = alpha_initializer
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            shared_axes = []
        elif np.ndim(shared_axes) == 0:
            shared_axes = [shared_axes]
        self.shared_axes = [int(a) for a in shared_axes]

    def build(self, input_shape: tuple[int, ...]) -> None:
        shape = list(input_shape)
        for axis in self.shared_axes:
            if not 1 <= axis <= len(shape):
                raise ValueError(f"{self._describe()}: shared_axes must be in [1, {len(shape)}] "
                                 f"for inputs of shape (None, *{tuple(input_shape)}), got {axis}")
            shape[axis - 1] = 1
        self.add_weight("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer)
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=1)
        self._x = x
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = _require_cache(self, "_x")
        dy = _check_gradient_shape(self, dy, x.shape)
        negative = x <= 0
        d_alpha = np.where(negative, dy * x, 0).sum(axis=0)
        for axis in self.shared_axes:
            d_alpha = d_alpha.sum(axis=axis - 1, keepdims=True)
        self.set_gradient("alpha", d_alpha.astype(self.dtype, copy=False))
        return np.where(negative, dy * self.alpha, dy)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(alpha_initializer=initializers.serialize(self._alpha_initializer_config),
                      alpha_regularizer=regularizers.serialize(self.alpha_regularizer),
                      shared_axes=self.shared_axes or None)
        return config


class Maxout(Layer):
    """Maxout (Goodfellow et al., 2013): split the last axis into ``num_units`` groups of
    k = features / num_units consecutive values and keep the maximum of each group.

        y[..., u] = max_{j < k} x[..., u*k + j]

    Put it after a linear layer with num_units * k outputs (e.g. ``Dense(3 * k)`` then
    ``Maxout(3)``) to learn a convex piecewise-linear activation with k pieces.
    Backward: each dy[..., u] goes to the (first) maximum of its group; the rest get 0.
    """

    supports_masking = True

    def __init__(self, num_units: int, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        if int(num_units) != num_units or num_units < 1:
            raise ValueError(f"Maxout: num_units must be a positive integer, got {num_units!r}")
        if axis != -1:
            raise ValueError(f"Maxout: only axis=-1 (the feature axis) is supported, got {axis}")
        self.num_units = int(num_units)
        self.axis = -1

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) < 1 or input_shape[-1] % self.num_units or input_shape[-1] == 0:
            raise ValueError(
                f"{self._describe()}: the last axis must be a positive multiple of num_units="
                f"{self.num_units}, received per-sample shape {tuple(input_shape)}"
            )
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*tuple(input_shape)[:-1], self.num_units)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=1)
        k = x.shape[-1] // self.num_units
        groups = x.reshape(*x.shape[:-1], self.num_units, k)  # (..., units, k)
        self._winner = np.argmax(groups, axis=-1)[..., None]  # (..., units, 1)
        self._input_shape_seen = x.shape
        return np.take_along_axis(groups, self._winner, axis=-1)[..., 0]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        winner, shape = _require_cache(self, "_winner", "_input_shape_seen")
        dy = _check_gradient_shape(self, dy, (*shape[:-1], self.num_units))
        d_groups = np.zeros((*shape[:-1], self.num_units, shape[-1] // self.num_units),
                            dtype=self.dtype)
        np.put_along_axis(d_groups, winner, dy[..., None], axis=-1)
        return d_groups.reshape(shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_units=self.num_units, axis=self.axis)
        return config


class Softmax(Layer):
    """y = softmax(x) along ``axis`` (default the last): exp(x_i) / sum_j exp(x_j), computed
    after subtracting the maximum so that large logits do not overflow.

    Backward (the Jacobian-vector product): dL/dx = y * (dy - sum(dy * y, axis)).
    With axis=-1 the layer also offers ``activation`` and ``backward_preactivation`` so that a
    model ending in Softmax uses the fused softmax + cross-entropy gradient.
    """

    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = int(axis)
        if self.axis == 0:
            raise ValueError("Softmax: axis 0 is the batch axis; use -1 (the default) or >= 1")
        self.activation = activations.softmax if self.axis == -1 else None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=1)
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True, initial=-np.inf))
        self._y = e / np.sum(e, axis=self.axis, keepdims=True)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (y,) = _require_cache(self, "_y")
        dy = _check_gradient_shape(self, dy, y.shape)
        return y * (dy - np.sum(dy * y, axis=self.axis, keepdims=True))

    def backward_preactivation(self, dz: np.ndarray) -> np.ndarray:
        """The input of this layer is the pre-activation, so dL/dx = dL/dz."""
        (y,) = _require_cache(self, "_y")
        return _check_gradient_shape(self, dz, y.shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config
