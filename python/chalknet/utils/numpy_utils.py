"""Array helpers with Keras's semantics: one-hot labels and vector normalisation."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def to_categorical(y: np.ndarray, num_classes: int | None = None,
                   dtype: DTypeLike = "float32") -> np.ndarray:
    """One-hot rows from integer class labels, as ``keras.utils.to_categorical``.

    y: integers in [0, num_classes), any shape (a trailing axis of 1 is dropped);
    returns y.shape + (num_classes,). num_classes defaults to max(y) + 1.
    """
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    as_int = labels.astype(np.int64)
    if np.any(as_int != labels) or (as_int.size and as_int.min() < 0):
        raise ValueError("to_categorical: labels must be non-negative integers")
    if num_classes is None:
        num_classes = int(as_int.max()) + 1 if as_int.size else 0
    if as_int.size and as_int.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(as_int.max())} is out of range for "
                         f"num_classes={num_classes}")
    one_hot = np.zeros((*as_int.shape, num_classes), dtype=dtype)
    np.put_along_axis(one_hot, as_int[..., None], 1, axis=-1)
    return one_hot


def normalize(x: np.ndarray, axis: int = -1, order: int | float = 2) -> np.ndarray:
    """x divided by its ``order``-norm along ``axis`` (zero vectors are left as they are), as
    ``keras.utils.normalize``."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
