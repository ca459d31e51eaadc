"""Splitting data for validation: train_test_split, KFold and cross_validate.

The cross-validation lesson in code: split the data into k folds, train a fresh model on k-1
of them, score it on the held-out fold, and report the k scores (their mean estimates how the
model does on data it has not seen, their spread how much that estimate can be trusted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .random import get_rng

if TYPE_CHECKING:
    from ..models import Model


def _generator(random_state: int | None) -> np.random.Generator:
    return get_rng() if random_state is None else np.random.default_rng(random_state)


def _sample_count(arrays) -> int:
    if not arrays:
        raise ValueError("train_test_split: give at least one array")
    counts = {len(a) for a in arrays}
    if len(counts) != 1:
        raise ValueError(
            f"train_test_split: all arrays need the same number of samples, got lengths "
            f"{[len(a) for a in arrays]}"
        )
    return counts.pop()


def train_test_split(*arrays: np.ndarray, test_size: float | int = 0.25, shuffle: bool = True,
                     random_state: int | None = None) -> list[np.ndarray]:
    """Split arrays into a training and a test part, like scikit-learn's function.

    ``test_size``: a fraction in (0, 1) or a number of samples. Returns
    ``train_0, test_0, train_1, test_1, ...`` (``x_train, x_test, y_train, y_test`` for two).
    With ``shuffle=False`` the test part is the last samples.
    """
    arrays = [np.asarray(a) for a in arrays]
    count = _sample_count(arrays)
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"train_test_split: test_size must be in (0, 1), got {test_size}")
        test_count = int(np.ceil(count * test_size))
    else:
        test_count = int(test_size)
    if not 0 < test_count < count:
        raise ValueError(f"train_test_split: test_size={test_size} of {count} samples leaves "
                         "one side empty")
    order = _generator(random_state).permutation(count) if shuffle else np.arange(count)
    train_index, test_index = order[:count - test_count], order[count - test_count:]
    result = []
    for array in arrays:
        result += [array[train_index], array[test_index]]
    return result


class KFold:
    """k-fold cross-validation indices: ``for train_index, val_index in KFold(5).split(x)``.

    Each sample is in the validation part of exactly one fold. The first ``n % k`` folds get
    one sample more, as scikit-learn does. ``shuffle`` permutes the samples once first.
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, random_state: int | None = None):
        if int(n_splits) < 2:
            raise ValueError(f"KFold: n_splits must be >= 2, got {n_splits}")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, x: np.ndarray, y: np.ndarray | None = None,
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        count = len(x)
        if count < self.n_splits:
            raise ValueError(f"KFold: cannot make {self.n_splits} folds from {count} samples")
        order = (_generator(self.random_state).permutation(count) if self.shuffle
                 else np.arange(count))
        sizes = np.full(self.n_splits, count // self.n_splits)
        sizes[:count % self.n_splits] += 1
        start = 0
        for size in sizes:
            val_index = order[start:start + size]
            train_index = np.concatenate([order[:start], order[start + size:]])
            yield train_index, val_index
            start += size

    def get_n_splits(self) -> int:
        return self.n_splits


def cross_validate(build_model: Callable[[], Model], x: np.ndarray, y: np.ndarray,
                   cv: int | KFold = 5, fit_kwargs: dict[str, Any] | None = None,
                   shuffle: bool = True, random_state: int | None = None) -> dict[str, list]:
    """Train ``build_model()`` (a function returning a fresh compiled model) on each of the
    ``cv`` folds and evaluate it on the held-out part.

    Returns a dict of per-fold lists: ``"loss"`` and each compiled metric ("accuracy", ...),
    measured on the held-out folds, plus ``"history"`` (each fold's History).
    """
    x, y = np.asarray(x), np.asarray(y)
    folds = cv if isinstance(cv, KFold) else KFold(cv, shuffle=shuffle,
                                                  random_state=random_state)
    fit_kwargs = {"verbose": 0, **(fit_kwargs or {})}
    results: dict[str, list] = {"history": []}
    for train_index, val_index in folds.split(x):
        model = build_model()
        history = model.fit(x[train_index], y[train_index], **fit_kwargs)
        scores = model.evaluate(x[val_index], y[val_index], verbose=0, return_dict=True)
        for name, value in scores.items():
            results.setdefault(name, []).append(value)
        results["history"].append(history)
    return results
