"""Weight initializers with Keras's names: callables ``init(shape, dtype) -> array``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike

from .utils.random import get_rng


def _fans(shape) -> tuple[int, int]:
    """fan_in and fan_out as Keras computes them (conv kernels: receptive field x channels)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class Zeros(Initializer):
    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        return np.ones(shape, dtype=dtype)


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        return get_rng().normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev}


class GlorotUniform(Initializer):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return get_rng().uniform(-limit, limit, size=shape).astype(dtype)


class HeNormal(Initializer):
    """Truncated normal with stddev sqrt(2 / fan_in) (He et al., 2015), as Keras."""

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        fan_in, _ = _fans(shape)
        return _truncated_normal(shape, np.sqrt(2.0 / fan_in)).astype(dtype)


class HeUniform(Initializer):
    """Uniform on [-limit, limit], limit = sqrt(6 / fan_in)."""

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        fan_in, _ = _fans(shape)
        limit = np.sqrt(6.0 / fan_in)
        return get_rng().uniform(-limit, limit, size=shape).astype(dtype)


class Orthogonal(Initializer):
    """A random orthogonal matrix (QR of a Gaussian matrix), reshaped; for recurrent kernels."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        flat = get_rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))  # make the decomposition unique
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)

    def get_config(self) -> dict:
        return {"gain": self.gain}


class GlorotNormal(Initializer):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        return _truncated_normal(shape, np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        return get_rng().uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval}


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> np.ndarray:
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self) -> dict:
        return {"value": self.value}


def _truncated_normal(shape, stddev):
    """N(0, 1) redrawn outside +-2, rescaled so that the result has standard deviation stddev."""
    values = get_rng().normal(0.0, 1.0, size=shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = get_rng().normal(0.0, 1.0, size=int(outside.sum()))
        outside = np.abs(values) > 2
    return values * (stddev / 0.87962566103423978)  # stddev of N(0,1) cut at +-2


_ALIASES = {
    "zeros": Zeros,
    "ones": Ones,
    "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "orthogonal": Orthogonal,
    "glorot_normal": GlorotNormal,
    "random_uniform": RandomUniform,
    "constant": Constant,
}
_CLASSES = {cls.__name__: cls for cls in _ALIASES.values()}


def get(identifier: str | dict | Initializer | Callable[..., np.ndarray],
        ) -> Initializer | Callable[..., np.ndarray]:
    """An initializer from a Keras name ("glorot_uniform" or "GlorotUniform"), a config dict
    (from ``serialize``), an instance, or a callable ``f(shape, dtype)``."""
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier not in _ALIASES:
            raise ValueError(
                f"unknown initializer {identifier!r}; known: {', '.join(sorted(_ALIASES))}"
            )
        return _ALIASES[identifier]()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in _CLASSES:
            raise ValueError(f"unknown initializer config {identifier!r}")
        return _CLASSES[name](**identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name or a callable, got {type(identifier).__name__}")


def serialize(initializer: str | dict | Initializer) -> str | dict:
    """JSON-serialisable form for layer configs: a name stays a name; an instance becomes
    {"class_name", "config"}."""
    if isinstance(initializer, (str, dict)):
        return initializer
    if type(initializer).__name__ in _CLASSES:
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    raise ValueError(f"initializer {initializer!r} cannot be saved; use a named initializer")
