"""Weight initializers with Keras's names: callables ``init(shape, dtype) -> array``."""

from __future__ import annotations

import numpy as np

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
    def __call__(self, shape, dtype=np.float32):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class Zeros(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.ones(shape, dtype=dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=np.float32):
        return get_rng().normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class GlorotUniform(Initializer):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""

    def __call__(self, shape, dtype=np.float32):
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return get_rng().uniform(-limit, limit, size=shape).astype(dtype)


class HeNormal(Initializer):
    """Truncated normal with stddev sqrt(2 / fan_in) (He et al., 2015), as Keras."""

    def __call__(self, shape, dtype=np.float32):
        fan_in, _ = _fans(shape)
        stddev = np.sqrt(2.0 / fan_in) / 0.87962566103423978  # stddev of N(0,1) cut at +-2
        values = get_rng().normal(0.0, 1.0, size=shape)
        outside = np.abs(values) > 2
        while outside.any():
            values[outside] = get_rng().normal(0.0, 1.0, size=int(outside.sum()))
            outside = np.abs(values) > 2
        return (values * stddev).astype(dtype)


class HeUniform(Initializer):
    """Uniform on [-limit, limit], limit = sqrt(6 / fan_in)."""

    def __call__(self, shape, dtype=np.float32):
        fan_in, _ = _fans(shape)
        limit = np.sqrt(6.0 / fan_in)
        return get_rng().uniform(-limit, limit, size=shape).astype(dtype)


class Orthogonal(Initializer):
    """A random orthogonal matrix (QR of a Gaussian matrix), reshaped; used for recurrent kernels."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=np.float32):
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        flat = get_rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))  # make the decomposition unique
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


_ALIASES = {
    "zeros": Zeros,
    "ones": Ones,
    "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "orthogonal": Orthogonal,
}


def get(identifier) -> Initializer:
    """An initializer from a Keras name ("glorot_uniform", ...), an instance, or a callable."""
    if isinstance(identifier, str):
        if identifier not in _ALIASES:
            raise ValueError(
                f"unknown initializer {identifier!r}; known: {', '.join(sorted(_ALIASES))}"
            )
        return _ALIASES[identifier]()
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name or a callable, got {type(identifier).__name__}")
