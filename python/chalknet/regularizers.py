"""Weight penalties added to the loss: ``regularizer(weight) -> float`` and its ``gradient``.

A layer given ``kernel_regularizer=L2(0.01)`` does not change its ``backward``; the model's
training step adds ``layer.regularization_loss()`` to the loss and
``layer.regularization_gradients()`` to the weight gradients (see ``layers.base.Layer``).

As in Keras there is no factor 1/2: L2(l2) adds ``l2 * sum(w**2)``, whose gradient is
``2 * l2 * w``.
"""

from __future__ import annotations

import numpy as np


class Regularizer:
    def __call__(self, weight: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w**2);  gradient l1 * sign(w) + 2 * l2 * w.

    Both factors default to 0.0 as in Keras's class; ``l1_l2()`` gives 0.01 and 0.01.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, weight: np.ndarray) -> float:
        weight = np.asarray(weight)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.sum(np.abs(weight)))
        if self.l2:
            penalty += self.l2 * float(np.sum(np.square(weight)))
        return penalty

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        # sign(0) = 0: the subgradient of |w| at 0 that leaves a zero weight where it is.
        weight = np.asarray(weight)
        return (self.l1 * np.sign(weight) + 2.0 * self.l2 * weight).astype(weight.dtype)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|w|) (lasso; drives weights to exactly zero); Keras's default factor 0.01."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(w**2) (weight decay); Keras's default factor 0.01."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


l1 = L1
l2 = L2


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Both penalties, each with Keras's default factor 0.01."""
    return L1L2(l1=l1, l2=l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier: str | dict | Regularizer | None) -> Regularizer | None:
    """A regularizer from None, a name ("l2"), a config dict (from ``serialize``) or an object."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown regularizer {identifier!r}; known: l1, l2, l1_l2")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in ("L1", "L2", "L1L2"):
            raise ValueError(f"unknown regularizer config {identifier!r}")
        return _BY_NAME[name](**identifier.get("config", {}))
    if callable(identifier) and hasattr(identifier, "gradient"):
        return identifier
    raise TypeError(
        f"regularizer must be a name, a config dict or an object with __call__ and gradient, "
        f"got {identifier!r}"
    )


def serialize(regularizer: Regularizer | None) -> dict | None:
    """A JSON-serialisable description that ``get`` turns back into the regularizer."""
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
