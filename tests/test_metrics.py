"""chalknet.metrics: values by hand, Keras's choice of accuracy, names and aliases."""

import numpy as np
import pytest

from chalknet import losses, metrics

PROBS = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
LABELS = np.array([1, 1, 2, 0])  # predicted classes are 1, 0, 2, 0: three of four right
ONE_HOT = np.eye(3)[LABELS]


def test_accuracies_by_hand():
    assert metrics.categorical_accuracy(ONE_HOT, PROBS) == 0.75
    assert metrics.sparse_categorical_accuracy(LABELS, PROBS) == 0.75
    assert metrics.sparse_categorical_accuracy(LABELS[:, None], PROBS) == 0.75
    # 0.9 > 0.5 -> 1 (right), 0.4 -> 0 (wrong), 0.6 -> 1 (wrong), 0.2 -> 0 (right)
    binary_true = np.array([[1.0], [1.0], [0.0], [0.0]])
    binary_pred = np.array([[0.9], [0.4], [0.6], [0.2]])
    assert metrics.binary_accuracy(binary_true, binary_pred) == 0.5
    assert metrics.binary_accuracy(binary_true[:, 0], binary_pred) == 0.5


def test_regression_metrics_by_hand():
    y_true = np.array([[1.0], [2.0], [3.0]])
    y_pred = np.array([[2.0], [2.0], [1.0]])  # errors 1, 0, -2
    assert metrics.get("mse")(y_true, y_pred) == pytest.approx(5 / 3)
    assert metrics.get("mae")(y_true, y_pred) == pytest.approx(1.0)
    assert metrics.get("mean_squared_error").name == "mean_squared_error"


@pytest.mark.parametrize(("y_true", "y_pred", "loss", "kind"), [
    (ONE_HOT, PROBS, None, "categorical"),
    (LABELS, PROBS, None, "sparse_categorical"),
    (LABELS[:, None], PROBS, None, "sparse_categorical"),
    (np.array([[1.0], [0.0]]), np.array([[0.7], [0.2]]), None, "binary"),
    (np.array([1.0, 0.0]), np.array([0.7, 0.2]), None, "binary"),
    # multi-label outputs with binary cross-entropy: per-entry binary accuracy, as Keras
    (np.array([[1.0, 0.0]]), np.array([[0.7, 0.8]]), "binary_crossentropy", "binary"),
    (np.array([[1.0, 0.0]]), np.array([[0.7, 0.8]]), None, "categorical"),
    (LABELS[:, None], PROBS, losses.SparseCategoricalCrossentropy(), "sparse_categorical"),
])
def test_accuracy_picks_the_kind_like_keras(y_true, y_pred, loss, kind):
    loss = losses.get(loss) if isinstance(loss, str) else loss
    assert metrics.accuracy_kind(y_true, y_pred, loss) == kind


def test_accuracy_and_error_values_and_names():
    accuracy = metrics.get("accuracy", loss="categorical_crossentropy")
    assert accuracy.name == "accuracy"
    assert accuracy(ONE_HOT, PROBS) == 0.75
    assert accuracy(LABELS, PROBS) == 0.75
    assert metrics.get("acc").name == "acc"
    error = metrics.get("classification_error")
    assert error.name == "classification_error"
    assert error(LABELS, PROBS) == pytest.approx(0.25)
    multi_label = metrics.get("accuracy", loss="binary_crossentropy")
    # entries: 0.7 > .5 vs 1 right; 0.8 > .5 vs 0 wrong
    assert multi_label(np.array([[1.0, 0.0]]), np.array([[0.7, 0.8]])) == 0.5


def test_get_functions_objects_and_errors():
    def top_value(y_true, y_pred):
        return float(np.max(y_pred))

    metric = metrics.get(top_value)
    assert metric.name == "top_value" and metric(None, PROBS) == 0.7
    existing = metrics.Accuracy()
    assert metrics.get(existing) is existing
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match=r"sparse labels must have shape \(4,\)"):
        metrics.sparse_categorical_accuracy(np.zeros(3), PROBS)


def test_crossentropy_metrics_report_the_loss_value():
    metric = metrics.get("sparse_categorical_crossentropy")
    assert metric.name == "sparse_categorical_crossentropy"
    # -(log 0.7 + log 0.3 + log 0.5 + log 0.6) / 4
    expected = -np.log([0.7, 0.3, 0.5, 0.6]).mean()
    assert metric(LABELS, PROBS) == pytest.approx(expected, rel=1e-12)
