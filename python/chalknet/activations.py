"""Activation functions, by name (``activations.get("relu")``) and as callables (``relu(x)``).

Each activation is a small object with

* ``name``                 -- the Keras name ("relu", "softmax", ...), used in configs;
* ``__call__(x)``          -- y = f(x), elementwise (softmax: along the last axis);
* ``derivative(x, y)``     -- f'(x), given x and y = f(x) (whichever is cheaper to use);
* ``backward(x, y, dy)``   -- dL/dx from dL/dy.  For an elementwise f this is the chain rule
  ``dy * f'(x)``; softmax mixes the entries of a row, so it overrides ``backward`` with the
  Jacobian-vector product.

Layers with a fused activation (Dense, Conv2D, Activation) keep ``x`` (the pre-activation z)
and ``y`` from the forward pass and call ``backward`` in theirs.
"""

from __future__ import annotations

import numpy as np

from . import ops


class ActivationFunction:
    """Base class: subclasses set ``name`` and implement ``__call__`` and ``derivative``."""

    name = "activation"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """f'(x) elementwise, given x and y = f(x)."""
        raise NotImplementedError

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dL/dy * f'(x) (chain rule, elementwise)."""
        return dy * self.derivative(x, y)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


class Linear(ActivationFunction):
    """f(x) = x;  f'(x) = 1."""

    name = "linear"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.ones_like(x)

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        return dy


class Sigmoid(ActivationFunction):
    """f(x) = 1 / (1 + exp(-x));  f'(x) = f(x) (1 - f(x)).

    Computed without overflow: with e = exp(-|x|) (always <= 1),
    f(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0 (multiply top and bottom by exp(x)).
    """

    name = "sigmoid"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y * (1.0 - y)


class Tanh(ActivationFunction):
    """f(x) = tanh(x);  f'(x) = 1 - tanh(x)^2."""

    name = "tanh"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1.0 - y * y


class ReLU(ActivationFunction):
    """f(x) = max(x, 0);  f'(x) = 1 where x > 0, else 0 (the kink at 0 gets 0, as Keras)."""

    name = "relu"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x > 0).astype(np.asarray(x).dtype)

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        # dy * f'(x) is a selection: keep dy where x > 0 (ops.relu_backward, one pass in C++;
        # its NumPy twin reference.relu_backward is np.where(x > 0, dy, 0)).
        dy = np.asarray(dy)
        if dy.dtype in (np.float32, np.float64) and np.shape(x) == dy.shape:
            return ops.relu_backward(dy, x)
        return np.where(x > 0, dy, 0).astype(dy.dtype, copy=False)


class LeakyReLU(ActivationFunction):
    """f(x) = x for x > 0, negative_slope * x otherwise;  f'(x) = 1 or negative_slope.

    The course's default slope is 0.01 (Maas et al., 2013); Keras 3 defaults to 0.2.
    """

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * self.negative_slope)

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where(x > 0, 1.0, self.negative_slope).astype(np.asarray(x).dtype)

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}


class ELU(ActivationFunction):
    """f(x) = x for x > 0, alpha (exp(x) - 1) otherwise;  f'(x) = 1 or f(x) + alpha."""

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        self.alpha = float(alpha)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # expm1 of min(x, 0): accurate near 0 and never overflows for large positive x.
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where(x > 0, 1.0, y + self.alpha).astype(np.asarray(x).dtype)

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


class Softplus(ActivationFunction):
    """f(x) = log(1 + exp(x));  f'(x) = sigmoid(x).

    ``np.logaddexp(0, x)`` computes log(exp(0) + exp(x)) without overflow.
    """

    name = "softplus"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.logaddexp(0, x)

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return sigmoid(x)


class Softmax(ActivationFunction):
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j), along the last axis.

    Stable: subtracting the row maximum first changes nothing mathematically (it cancels in the
    ratio) but keeps every exp() <= 1, so logits of 1e4 do not overflow.

    The derivative is a matrix per row, d y_i / d x_j = y_i (delta_ij - y_j), so ``backward``
    computes the Jacobian-vector product directly:  dx_j = y_j (dy_j - sum_i dy_i y_i).
    """

    name = "softmax"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        shifted = x - np.max(x, axis=-1, keepdims=True, initial=-np.inf)
        e = np.exp(shifted)
        return e / np.sum(e, axis=-1, keepdims=True)

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The diagonal of the Jacobian, y_i (1 - y_i); ``backward`` uses the full product."""
        return y * (1.0 - y)

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


linear = Linear()
sigmoid = Sigmoid()
tanh = Tanh()
relu = ReLU()
leaky_relu = LeakyReLU()
elu = ELU()
softplus = Softplus()
softmax = Softmax()

_BY_NAME = {
    f.name: f for f in (linear, sigmoid, tanh, relu, leaky_relu, elu, softplus, softmax)
}


def get(identifier: str | ActivationFunction | None) -> ActivationFunction:
    """The activation for a Keras name ("relu"), an activation object, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"unknown activation {identifier!r}; known: {', '.join(sorted(_BY_NAME))}"
            )
        return _BY_NAME[identifier]
    if callable(identifier):
        raise TypeError(
            f"activation {identifier!r} is a plain function: backpropagation also needs its "
            "derivative. Subclass chalknet.activations.ActivationFunction (define __call__ and "
            "derivative) or use a name such as 'relu'."
        )
    raise TypeError(f"activation must be a name or an activation object, got {identifier!r}")


def serialize(activation: ActivationFunction) -> str:
    """The name stored in a layer's config; only the named activations (default form) do."""
    named = _BY_NAME.get(activation.name)
    if named is None or named.get_config() != activation.get_config():
        raise ValueError(
            f"activation {activation!r} with config {activation.get_config()} cannot be saved "
            "by name; use a named activation or a layer (e.g. layers.LeakyReLU) instead"
        )
    return activation.name
