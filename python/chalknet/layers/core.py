"""Core layers: Dense, Activation, Flatten, Reshape and InputLayer."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import activations, initializers, ops, regularizers
from .base import Layer

if TYPE_CHECKING:
    from .base import ActivationLike, InitializerLike, RegularizerLike


def _require_cache(layer, *names):
    """The values ``forward`` cached for ``backward``; a clear error when forward never ran."""
    values = [getattr(layer, name, None) for name in names]
    if any(v is None for v in values):
        raise RuntimeError(f"{layer._describe()}: backward called before forward")
    return values


def _check_gradient_shape(layer, dy, expected):
    dy = np.asarray(dy)
    if dy.shape != tuple(expected):
        raise ValueError(
            f"{layer._describe()}: backward expected dy of shape {tuple(expected)} (the shape "
            f"of the last forward output), received {dy.shape}"
        )
    return dy.astype(layer.dtype, copy=False)


class Dense(Layer):
    """Fully connected layer: y = activation(x @ kernel + bias).

    kernel has shape (input features, units) and bias (units,), as in Keras. Inputs of rank > 2
    are transformed along their last axis (each position of a sequence gets the same weights).

    Backward, with z = x @ kernel + bias the pre-activation and dz = dL/dz:
        dL/dkernel = x^T dz,   dL/dbias = sum of dz over the batch,   dL/dx = dz kernel^T.
    """

    supports_masking = True

    def __init__(self, units: int, activation: ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: InitializerLike = "glorot_uniform",
                 bias_initializer: InitializerLike = "zeros",
                 kernel_regularizer: RegularizerLike = None,
                 bias_regularizer: RegularizerLike = None, input_dim: int | None = None,
                 **kwargs: Any):
        if input_dim is not None:  # Keras 2's Dense(64, input_dim=784)
            kwargs.setdefault("input_shape", (int(input_dim),))
        super().__init__(**kwargs)
        if not isinstance(units, numbers.Real) or int(units) != units or int(units) < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._config_initializers = (kernel_initializer, bias_initializer)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) < 1:
            raise ValueError(f"{self._describe()}: expected inputs of rank >= 2 (batch, ..., "
                             f"features), received per-sample shape {tuple(input_shape)}")
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                        self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*tuple(input_shape)[:-1], self.units)

    def _check_input_shape(self, shape):
        features = self.kernel.shape[0]
        if shape[-1] != features:
            raise ValueError(
                f"{self._describe()}: expected inputs with {features} features on the last "
                f"axis, shape (None, ..., {features}), received {tuple(shape)}"
            )

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        # rows counted explicitly: reshape(-1, 0) cannot infer them for zero features
        self._x = x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])
        z = ops.matmul(self._x, self.kernel)
        if self.use_bias:
            z += self.bias
        self._z, self._y = z, self.activation(z)
        self._output_shape = (*x.shape[:-1], self.units)
        return self._y.reshape(self._output_shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        z, y = _require_cache(self, "_z", "_y")
        dy = _check_gradient_shape(self, dy, self._output_shape).reshape(z.shape)
        dz = self.activation.backward(z, y, dy)
        return self.backward_preactivation(dz.reshape(self._output_shape))

    def backward_preactivation(self, dz: np.ndarray) -> np.ndarray:
        """``backward`` given dL/dz (z = x @ kernel + bias) instead of dL/dy."""
        (x,) = _require_cache(self, "_x")
        dz = _check_gradient_shape(self, dz, self._output_shape).reshape(-1, self.units)
        self.set_gradient("kernel", ops.matmul(x, dz, transpose_a=True))
        if self.use_bias:
            self.set_gradient("bias", dz.sum(axis=0))
        if not self.needs_input_gradient:
            return None
        dx = ops.matmul(dz, self.kernel, transpose_b=True)
        return dx.reshape(*self._output_shape[:-1], x.shape[1])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self._config_initializers[0]),
            bias_initializer=initializers.serialize(self._config_initializers[1]),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
        )
        return config


class Activation(Layer):
    """Applies an activation function: y = activation(x) (a name such as "relu", or an object
    from ``chalknet.activations``)."""

    supports_masking = True

    def __init__(self, activation: ActivationLike, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=0)
        self._x, self._y = x, self.activation(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, y = _require_cache(self, "_x", "_y")
        dy = _check_gradient_shape(self, dy, y.shape)
        return self.activation.backward(x, y, dy)

    def backward_preactivation(self, dz: np.ndarray) -> np.ndarray:
        """The input of this layer is the pre-activation, so dL/dx = dL/dz."""
        (y,) = _require_cache(self, "_y")
        return _check_gradient_shape(self, dz, y.shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...); backward reshapes dy back."""

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape, dtype=np.int64)),)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=0)
        self._input_shape_seen = x.shape
        return x.reshape(x.shape[0], *self.compute_output_shape(x.shape[1:]))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (shape,) = _require_cache(self, "_input_shape_seen")
        dy = _check_gradient_shape(self, dy, (shape[0], int(np.prod(shape[1:], dtype=np.int64))))
        return dy.reshape(shape)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (batch axis excluded; one entry may be -1)."""

    def __init__(self, target_shape: Iterable[int], **kwargs: Any):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(
                d < 1 and d != -1 for d in self.target_shape):
            raise ValueError(
                f"Reshape: target_shape must hold positive sizes and at most one -1, "
                f"got {target_shape!r}"
            )

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        size = int(np.prod(input_shape, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(
                    f"{self._describe()}: cannot reshape inputs of shape {tuple(input_shape)} "
                    f"({size} values) to {self.target_shape}"
                )
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(
                f"{self._describe()}: cannot reshape inputs of shape {tuple(input_shape)} "
                f"({size} values) to {self.target_shape} ({known} values)"
            )
        return self.target_shape

    def build(self, input_shape: tuple[int, ...]) -> None:
        self._output_shape = self.compute_output_shape(input_shape)
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=0)
        self._input_shape_seen = x.shape
        return x.reshape(x.shape[0], *self._output_shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (shape,) = _require_cache(self, "_input_shape_seen")
        dy = _check_gradient_shape(self, dy, (shape[0], *self._output_shape))
        return dy.reshape(shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class InputLayer(Layer):
    """Declares the shape of the inputs (batch axis excluded); passes them through unchanged
    after checking that shape."""

    def __init__(self, shape: Iterable[int] | None = None, **kwargs: Any):
        shape = shape if shape is not None else kwargs.pop("input_shape", None)
        if shape is None:
            raise ValueError("InputLayer: shape is required, e.g. InputLayer(shape=(784,))")
        super().__init__(input_shape=shape, **kwargs)
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self._prepare_input(x, min_rank=0)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.asarray(dy)

    def get_config(self) -> dict:
        config = super().get_config()
        config["shape"] = list(config.pop("input_shape"))
        return config
