"""Dropout (Srivastava et al., 2014), in Keras's inverted form and in the classic form."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..utils.random import get_rng
from .base import Layer
from .core import _check_gradient_shape, _require_cache

_MODES = ("inverted", "classic")


class Dropout(Layer):
    """Sets each input to 0 with probability ``rate`` while training.

    mode="inverted" (default, what Keras and PyTorch do): in training, y = x * mask / (1 - rate)
        with mask[i] ~ Bernoulli(1 - rate); at test time y = x.
    mode="classic" (the original paper): in training, y = x * mask; at test time
        y = x * (1 - rate), i.e. every downstream weight is effectively scaled by (1 - p).

    Why both give the same network: a unit that is kept with probability q = 1 - rate has
    expected training output E[y] = q * x in the classic form. At test time nothing is dropped,
    so the classic form multiplies by q to give the next layer inputs of the size it saw in
    training. The inverted form divides by q while training instead, so E[y] = x already and the
    test-time pass needs no change at all (cheaper inference, and a model that can be saved and
    used without knowing it had dropout). The two nets differ only by the constant factor q on
    the outputs that the following layer's weights absorb: training the inverted form gives
    weights w, training the classic form gives weights w / q for the same function.

    noise_shape: shape of the mask (batch axis included) where None entries take the input's
    size, e.g. (None, 1, 1, C) drops whole feature maps. Every draw comes from
    ``chalknet.utils.get_rng()``, so ``set_random_seed`` makes the masks repeatable.
    Backward multiplies dy by the same factor as the forward pass (mask / (1 - rate), mask,
    1 or (1 - rate)).
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 mode: str = "inverted", **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        if mode not in _MODES:
            raise ValueError(f"Dropout: mode must be 'inverted' or 'classic', got {mode!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self.mode = mode

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"{self._describe()}: noise_shape {tuple(self.noise_shape)} must "
                             f"have the rank of the input, received shape {shape}")
        return tuple(s if n is None else int(n) for n, s in zip(self.noise_shape, shape,
                                                                strict=True))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=0)
        self._input_shape_seen = x.shape
        keep = 1.0 - self.rate
        if not training:
            self._scale = None
            return x if self.mode == "inverted" else x * x.dtype.type(keep)
        mask = get_rng().random(self._mask_shape(x.shape), dtype=np.float32) < keep
        scale = mask / keep if self.mode == "inverted" else mask
        self._scale = scale.astype(self.dtype)
        return x * self._scale

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (shape,) = _require_cache(self, "_input_shape_seen")
        dy = _check_gradient_shape(self, dy, shape)
        if self._scale is not None:
            return dy * self._scale
        return dy if self.mode == "inverted" else dy * dy.dtype.type(1.0 - self.rate)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, mode=self.mode)
        return config
