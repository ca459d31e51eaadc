"""Layers around the recurrent ones: Embedding, Masking, RepeatVector, TimeDistributed.

- ``Embedding(input_dim, output_dim, mask_zero=False)``: integer ids (batch, time) -> vectors
  (batch, time, output_dim), a row lookup in the ``embeddings`` matrix.  With ``mask_zero`` the
  id 0 means "padding" and the layer emits a mask (batch, time) that the recurrent layers use.
- ``Masking(mask_value=0.0)``: marks the steps whose features all equal ``mask_value`` as
  padding (and zeroes them), for sequences that are not integer ids.
- ``RepeatVector(n)``: (batch, features) -> (batch, n, features), the bridge from an encoder's
  summary vector to a decoder that needs a sequence.
- ``TimeDistributed(layer)``: applies ``layer`` to every step, (batch, time, ...) ->
  (batch, time, ...), by folding time into the batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import initializers
from .base import Layer

if TYPE_CHECKING:
    from .base import DTypeLike, InitializerLike


class _UniformEmbeddings(initializers.Initializer):
    """Keras's default for embeddings: uniform on [-0.05, 0.05]."""

    def __call__(self, shape: tuple[int, ...],
                 dtype: DTypeLike = np.float32) -> np.ndarray:
        from ..utils.random import get_rng

        return get_rng().uniform(-0.05, 0.05, size=shape).astype(dtype)


class Embedding(Layer):
    """Turns integer ids into dense vectors: y[b, t] = embeddings[x[b, t]].

    embeddings has shape (input_dim, output_dim).  Backward: each dy[b, t] is added to the row
    of the id it came from (ids that occur twice get both gradients); the ids themselves have
    no gradient, so ``backward`` returns None.
    """

    supports_masking = True

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer: InitializerLike = "uniform", mask_zero: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        for what, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if int(value) != value or int(value) < 1:
                raise ValueError(f"Embedding: {what} must be a positive integer, got {value!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.mask_zero = bool(mask_zero)

    def build(self, input_shape: tuple[int, ...]) -> None:
        initializer = (_UniformEmbeddings() if self.embeddings_initializer == "uniform"
                       else self.embeddings_initializer)
        self.add_weight("embeddings", (self.input_dim, self.output_dim), initializer)
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*tuple(input_shape), self.output_dim)

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        if not self.mask_zero:
            return None
        return np.asarray(x) != 0

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "iu" and not (x.dtype.kind == "f" and np.all(x == np.round(x))):
            raise TypeError(f"Embedding layer {self.name!r}: expected integer ids, got dtype "
                            f"{x.dtype}")
        self.maybe_build(x.shape[1:])
        ids = x.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(f"Embedding layer {self.name!r}: ids must be in [0, "
                             f"{self.input_dim}), got values from {ids.min()} to {ids.max()}")
        self._ids = ids
        return self.embeddings[ids]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if not hasattr(self, "_ids"):
            raise RuntimeError(f"Embedding layer {self.name!r}: call forward before backward")
        dy = np.asarray(dy, dtype=self.dtype).reshape(-1, self.output_dim)
        d_embeddings = np.zeros_like(self.embeddings)
        np.add.at(d_embeddings, self._ids.reshape(-1), dy)
        self.set_gradient("embeddings", d_embeddings)
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      mask_zero=self.mask_zero)
        if isinstance(self.embeddings_initializer, str):
            config["embeddings_initializer"] = self.embeddings_initializer
        return config



def _real_array(layer, x):
    """x as an array of the layer's dtype; complex, object and text input is refused (a cast
    would drop the imaginary part or fail without naming the layer)."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{layer._describe()}: expected a numeric array, got dtype {x.dtype}")
    return x.astype(layer.dtype, copy=False)


class Masking(Layer):
    """Marks the time steps whose features all equal ``mask_value`` as padding.

    Output: the input with those steps set to zero; mask (batch, time) = the other steps.
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def _step_mask(self, x):
        return np.any(np.asarray(x) != self.mask_value, axis=-1)

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        return self._step_mask(x)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _real_array(self, x)
        if x.ndim < 3:
            raise ValueError(f"Masking layer {self.name!r}: expected inputs (batch, time, "
                             f"features), received shape {x.shape}")
        self.maybe_build(x.shape[1:])
        self._keep = self._step_mask(x)[..., None].astype(self.dtype)
        return x * self._keep

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.asarray(dy, dtype=self.dtype) * self._keep

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the same vector at each of n steps.
    Backward sums the n step gradients."""

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        if int(n) != n or int(n) < 1:
            raise ValueError(f"RepeatVector: n must be a positive integer, got {n!r}")
        self.n = int(n)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.n, *tuple(input_shape))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _real_array(self, x)
        if x.ndim != 2:
            raise ValueError(f"RepeatVector layer {self.name!r}: expected inputs (batch, "
                             f"features), received shape {x.shape}")
        self.maybe_build(x.shape[1:])
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.asarray(dy, dtype=self.dtype).sum(axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: (batch, time, ...) -> (batch, time, ...).

    The steps are folded into the batch, (batch * time, ...), so the wrapped layer runs once;
    its weights are this layer's weights (same names, same arrays).  The mask passes through.
    """

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any):
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: layer must be a chalknet layer, got "
                            f"{type(layer).__name__}")
        kwargs.setdefault("dtype", layer.dtype.name)
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) < 2:
            raise ValueError(f"TimeDistributed layer {self.name!r}: expected inputs (batch, "
                             f"time, ...), got per-sample shape {tuple(input_shape)}")
        self.layer.maybe_build(tuple(input_shape)[1:])
        for name in self.layer.weight_names:
            setattr(self, name, getattr(self.layer, name))  # the same array, updated in place
            self._weight_names.append(name)
            self._trainable_flags[name] = self.layer._trainable_flags.get(name, True)
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        steps, *rest = tuple(input_shape)
        return (steps, *self.layer.compute_output_shape(tuple(rest)))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 3:
            raise ValueError(f"TimeDistributed layer {self.name!r}: expected inputs (batch, "
                             f"time, ...), received shape {x.shape}")
        self.maybe_build(x.shape[1:])
        batch, steps = x.shape[:2]
        y = self.layer.forward(x.reshape(batch * steps, *x.shape[2:]), training=training)
        return y.reshape(batch, steps, *y.shape[1:])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = np.asarray(dy)
        batch, steps = dy.shape[:2]
        dx = self.layer.backward(dy.reshape(batch * steps, *dy.shape[2:]))
        for name, gradient in zip(self.layer.weight_names, self.layer.get_gradients(), strict=True):
            self.set_gradient(name, gradient)
        return dx.reshape(batch, steps, *dx.shape[1:])

    def get_config(self) -> dict:
        config = super().get_config()
        config["layer"] = {"class_name": type(self.layer).__name__,
                           "config": self.layer.get_config()}
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        from .base import get_layer_class

        config = dict(config)
        inner = config.pop("layer")
        return cls(get_layer_class(inner["class_name"]).from_config(inner["config"]), **config)
