"""Metrics: ``metric(y_true, y_pred) -> float`` (the batch mean) with a ``name``.

``name`` is the History key. ``metrics.get("accuracy", loss=...)`` returns an ``Accuracy`` that
decides per batch, like Keras, whether the task is binary, categorical or sparse categorical
(from the shapes of the labels and predictions, and from the loss), and is still called
"accuracy". The training loop averages batch values weighted by batch size over an epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import losses as _losses


class Metric:
    name = "metric"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<metric {self.name}>"


def _labels_as_classes(y_true, y_pred, metric):
    """Integer labels of shape y_pred.shape[:-1] from (N,) or (N, 1) sparse labels."""
    labels = np.asarray(y_true)
    if labels.shape == (*y_pred.shape[:-1], 1):
        labels = labels.reshape(y_pred.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"{metric}: sparse labels must have shape {y_pred.shape[:-1]} for "
                         f"y_pred {y_pred.shape}, got {labels.shape}")
    return labels


def _same_shape(y_true, y_pred, metric):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size or np.squeeze(y_true).shape != np.squeeze(y_pred).shape:
            raise ValueError(f"{metric}: y_true and y_pred must have the same shape, got "
                             f"{y_true.shape} and {y_pred.shape}")
        y_true = y_true.reshape(y_pred.shape)
    return y_true, y_pred


def binary_accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of entries where (y_pred > threshold) equals the 0/1 label."""
    y_true, y_pred = _same_shape(y_true, y_pred, "binary_accuracy")
    return float(np.mean((y_pred > threshold) == (y_true > 0.5)))


def categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples whose most probable class is the one-hot label's class."""
    y_true, y_pred = _same_shape(y_true, y_pred, "categorical_accuracy")
    return float(np.mean(np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)))


def sparse_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples whose most probable class equals the integer label."""
    y_pred = np.asarray(y_pred)
    labels = _labels_as_classes(y_true, y_pred, "sparse_categorical_accuracy")
    return float(np.mean(np.argmax(y_pred, axis=-1) == labels))


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_squared_error")
    return float(np.mean(np.square(y_pred - y_true)))


def mean_absolute_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_absolute_error")
    return float(np.mean(np.abs(y_pred - y_true)))


class MeanMetricWrapper(Metric):
    """A metric from a function ``fn(y_true, y_pred) -> float`` and a name."""

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], float], name: str):
        self.fn = fn
        self.name = name

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(self.fn(y_true, y_pred))


def accuracy_kind(y_true: np.ndarray, y_pred: np.ndarray,
                  loss: _losses.Loss | None = None) -> str:
    """"binary", "sparse_categorical" or "categorical": Keras's rule for metrics=["accuracy"].

    binary when the prediction has one output per sample (last axis 1, or no class axis) or the
    loss is a binary cross-entropy; sparse when the labels have one axis fewer than the
    predictions (or a last axis of 1 against several classes) or the loss is the sparse
    cross-entropy; categorical otherwise (one-hot labels).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if isinstance(loss, _losses.BinaryCrossentropy) or y_pred.ndim < 2 or y_pred.shape[-1] == 1:
        return "binary"
    if isinstance(loss, _losses.SparseCategoricalCrossentropy):
        return "sparse_categorical"
    if y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
        return "sparse_categorical"
    return "categorical"


_ACCURACY_BY_KIND = {
    "binary": binary_accuracy,
    "categorical": categorical_accuracy,
    "sparse_categorical": sparse_categorical_accuracy,
}


class Accuracy(Metric):
    """Accuracy that picks binary, categorical or sparse categorical per call (Keras's rule,
    see ``accuracy_kind``); the name stays "accuracy"."""

    def __init__(self, loss: str | _losses.Loss | None = None, name: str = "accuracy"):
        self.loss = _losses.get(loss) if isinstance(loss, str) else loss
        self.name = name

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        kind = accuracy_kind(y_true, y_pred, self.loss)
        return _ACCURACY_BY_KIND[kind](y_true, y_pred)


class ClassificationError(Accuracy):
    """1 - accuracy (the fraction of misclassified samples), with the same automatic choice."""

    def __init__(self, loss: str | _losses.Loss | None = None,
                 name: str = "classification_error"):
        super().__init__(loss=loss, name=name)

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return 1.0 - super().__call__(y_true, y_pred)


_FUNCTIONS = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
}

_LOSSES_AS_METRICS = ("binary_crossentropy", "categorical_crossentropy",
                      "sparse_categorical_crossentropy", "hinge")


def get(identifier: str | Metric | Callable[[np.ndarray, np.ndarray], float],
        loss: str | _losses.Loss | None = None) -> Metric:
    """A metric object from a name ("accuracy", "acc", "mse", "error", ...), a Metric, or a
    function ``fn(y_true, y_pred) -> float`` (named after the function). ``loss`` lets
    "accuracy" choose between binary, categorical and sparse accuracy as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return Accuracy(loss=loss, name=identifier)
        if identifier in ("classification_error", "error"):
            return ClassificationError(loss=loss, name=identifier)
        if identifier in _FUNCTIONS:
            return MeanMetricWrapper(_FUNCTIONS[identifier], identifier)
        if identifier in _LOSSES_AS_METRICS:  # e.g. "binary_crossentropy": the loss's value
            return MeanMetricWrapper(_losses.get(identifier), identifier)
        known = sorted([*_FUNCTIONS, *_LOSSES_AS_METRICS, "accuracy", "acc",
                        "classification_error", "error"])
        raise ValueError(f"unknown metric {identifier!r}; known: {', '.join(known)}")
    if callable(identifier):
        return MeanMetricWrapper(identifier, getattr(identifier, "__name__", "metric"))
    raise TypeError(f"metric must be a name, a Metric or a function, got {identifier!r}")
