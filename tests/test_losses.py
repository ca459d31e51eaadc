"""chalknet.losses: hand-computed tables, gradients against finite differences, the fused
softmax/sigmoid gradients, hostile inputs, aliases and shape errors."""

import json
import math

import numpy as np
import pytest

from chalknet import activations, losses
from chalknet.utils import numerical_gradient, relative_error


def test_mean_squared_and_absolute_error_by_hand():
    y_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_pred = np.ones((2, 2))
    # differences 0, 1, 2, 3: squares 0 + 1 + 4 + 9 = 14 over 4 entries; |.| 6 over 4
    assert losses.MeanSquaredError()(y_true, y_pred) == pytest.approx(3.5, abs=1e-15)
    assert losses.MeanAbsoluteError()(y_true, y_pred) == pytest.approx(1.5, abs=1e-15)


def test_binary_crossentropy_by_hand():
    y_true = np.array([[1.0], [0.0]])
    probabilities = np.array([[0.8], [0.4]])
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert losses.BinaryCrossentropy()(y_true, probabilities) == pytest.approx(expected, 1e-12)
    logits = np.array([[math.log(4)], [math.log(2 / 3)]])  # sigmoid: 4/5 and 2/5
    got = losses.BinaryCrossentropy(from_logits=True)(y_true, logits)
    assert got == pytest.approx(expected, rel=1e-12)


def test_categorical_and_sparse_crossentropy_by_hand():
    one_hot = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = np.array([1, 0])
    probabilities = np.array([[0.2, 0.5, 0.3], [0.1, 0.6, 0.3]])
    expected = -(math.log(0.5) + math.log(0.1)) / 2
    for loss, y in ((losses.CategoricalCrossentropy(), one_hot),
                    (losses.SparseCategoricalCrossentropy(), labels),
                    (losses.SparseCategoricalCrossentropy(), labels[:, None])):
        assert loss(y, probabilities) == pytest.approx(expected, rel=1e-12)
    logits = np.log(probabilities) + 7.0  # softmax(log p + c) = p
    assert losses.CategoricalCrossentropy(from_logits=True)(one_hot, logits) == \
        pytest.approx(expected, rel=1e-12)
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits) == \
        pytest.approx(expected, rel=1e-12)


def test_categorical_crossentropy_normalises_rows_like_keras():
    # rows [1, 3] -> [0.25, 0.75]; label class 1: -log 0.75
    got = losses.CategoricalCrossentropy()(np.array([[0.0, 1.0]]), np.array([[1.0, 3.0]]))
    assert got == pytest.approx(-math.log(0.75), rel=1e-12)


def test_hinge_by_hand():
    y_pred = np.array([[0.3], [0.5]])
    # margins: 1 - 1*0.3 = 0.7 and 1 - (-1)*0.5 = 1.5, mean 1.1; 0/1 labels mean -1/1
    assert losses.Hinge()(np.array([[1.0], [-1.0]]), y_pred) == pytest.approx(1.1, abs=1e-15)
    assert losses.Hinge()(np.array([[1.0], [0.0]]), y_pred) == pytest.approx(1.1, abs=1e-15)
    assert losses.Hinge()(np.array([[1.0]]), np.array([[2.0]])) == 0.0


def _cases():
    rng = np.random.default_rng(7)
    targets = rng.normal(size=(4, 3))
    binary = rng.integers(0, 2, size=(4, 3)).astype(float)
    probabilities = rng.uniform(0.1, 0.9, size=(4, 3))
    one_hot = np.eye(3)[rng.integers(0, 3, size=4)]
    soft = rng.dirichlet(np.ones(3), size=4)
    return [
        ("mse", losses.MeanSquaredError(), targets, rng.normal(size=(4, 3))),
        ("mae", losses.MeanAbsoluteError(), targets, targets + rng.uniform(0.1, 1, (4, 3))
         * rng.choice([-1, 1], (4, 3))),
        ("bce", losses.BinaryCrossentropy(), binary, probabilities),
        ("bce_logits", losses.BinaryCrossentropy(from_logits=True), binary,
         rng.normal(size=(4, 3)) * 3),
        ("cce", losses.CategoricalCrossentropy(), one_hot, probabilities),  # rows not normalised
        ("cce_soft", losses.CategoricalCrossentropy(), soft, probabilities),
        ("cce_logits", losses.CategoricalCrossentropy(from_logits=True), soft,
         rng.normal(size=(4, 3)) * 3),
        ("sparse", losses.SparseCategoricalCrossentropy(), np.array([0, 2, 1, 2]), probabilities),
        ("sparse_logits", losses.SparseCategoricalCrossentropy(from_logits=True),
         np.array([0, 2, 1, 2]), rng.normal(size=(4, 3))),
        ("sequence_cce", losses.CategoricalCrossentropy(from_logits=True),
         np.eye(3)[rng.integers(0, 3, size=(2, 5))], rng.normal(size=(2, 5, 3))),
        ("hinge", losses.Hinge(), rng.choice([-1.0, 1.0], (4, 3)),
         rng.uniform(-2, 2, size=(4, 3))),
    ]


@pytest.mark.parametrize(("label", "loss", "y_true", "y_pred"), _cases(),
                         ids=[c[0] for c in _cases()])
def test_gradient_matches_finite_differences(label, loss, y_true, y_pred):
    y_pred = y_pred.copy()
    if label == "hinge":  # keep every margin away from the kink at 1 - y*y_pred = 0
        margin = 1 - y_true * y_pred
        y_pred[np.abs(margin) < 0.05] += 0.2 * y_true[np.abs(margin) < 0.05]
    analytic = loss.gradient(y_true, y_pred)
    assert analytic.shape == y_pred.shape
    numeric = numerical_gradient(lambda: loss(y_true, y_pred), y_pred)
    assert relative_error(analytic, numeric) < 1e-6


def test_fused_softmax_crossentropy_gradient_is_chain_rule():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 4))
    labels = rng.integers(0, 4, size=5)
    one_hot = np.eye(4)[labels]
    p = activations.softmax(z)
    for loss, y in ((losses.CategoricalCrossentropy(), one_hot),
                    (losses.SparseCategoricalCrossentropy(), labels)):
        fused = loss.preactivation_gradient(y, p, activations.softmax)
        chained = activations.softmax.backward(z, p, loss.gradient(y, p))
        np.testing.assert_allclose(fused, chained, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(fused, (p - one_hot) / 5, rtol=1e-12, atol=1e-17)
        assert loss.preactivation_gradient(y, p, activations.relu) is None
    logits_loss = losses.CategoricalCrossentropy(from_logits=True)
    assert logits_loss.preactivation_gradient(one_hot, p, activations.softmax) is None


def test_fused_sigmoid_binary_crossentropy_gradient_is_chain_rule():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(6, 1))
    y = rng.integers(0, 2, size=(6, 1)).astype(float)
    p = activations.sigmoid(z)
    loss = losses.BinaryCrossentropy()
    fused = loss.preactivation_gradient(y, p, activations.sigmoid)
    chained = activations.sigmoid.backward(z, p, loss.gradient(y, p))
    np.testing.assert_allclose(fused, chained, rtol=1e-9)
    np.testing.assert_allclose(fused, (p - y) / 6, rtol=1e-12)
    assert loss.preactivation_gradient(y, p, activations.softmax) is None


def test_hostile_inputs_are_finite_and_right():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        cce = losses.CategoricalCrossentropy(from_logits=True)
        right = np.array([[0.0, 1.0]])
        assert cce(right, np.array([[-1e4, 1e4]])) == 0.0
        assert cce(right, np.array([[1e4, -1e4]])) == pytest.approx(2e4)
        grad = cce.gradient(right, np.array([[1e4, -1e4]]))
        np.testing.assert_array_equal(grad, [[1.0, -1.0]])
        bce = losses.BinaryCrossentropy(from_logits=True)
        assert bce(np.array([[0.0]]), np.array([[1e3]])) == pytest.approx(1e3)
        assert bce(np.array([[1.0]]), np.array([[1e3]])) == 0.0
        # probabilities of exactly 0 and 1: clipped to 1e-7, as Keras; finite gradient
        for loss in (losses.BinaryCrossentropy(), losses.CategoricalCrossentropy()):
            value = loss(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
            assert np.isfinite(value) and value > 10
            assert np.all(np.isfinite(loss.gradient(np.array([[1.0, 0.0]]),
                                                    np.array([[0.0, 1.0]]))))
        bce_value = losses.BinaryCrossentropy()(np.array([[1.0]]), np.array([[0.0]]))
        assert bce_value == pytest.approx(-math.log(1e-7), rel=1e-6)


ALIASES = {
    "mse": losses.MeanSquaredError, "mean_squared_error": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError, "mean_absolute_error": losses.MeanAbsoluteError,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "hinge": losses.Hinge, "MeanSquaredError": losses.MeanSquaredError,
    "CategoricalCrossentropy": losses.CategoricalCrossentropy,
}


@pytest.mark.parametrize(("alias", "cls"), ALIASES.items())
def test_string_aliases(alias, cls):
    assert type(losses.get(alias)) is cls


def test_get_instances_configs_and_errors():
    loss = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    again = losses.get(json.loads(json.dumps(losses.serialize(loss))))
    assert type(again) is losses.CategoricalCrossentropy and again.from_logits
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        losses.get("msee")
    with pytest.raises(TypeError, match="gradient"):
        losses.get(lambda y_true, y_pred: 0.0)


def test_shapes():
    mse = losses.MeanSquaredError()
    # a label vector (N,) against predictions (N, 1) is the same thing, not an (N, N) broadcast
    assert mse(np.array([1.0, 2.0]), np.array([[1.0], [4.0]])) == pytest.approx(2.0)
    assert mse.gradient(np.array([1.0, 2.0]), np.array([[1.0], [4.0]])).shape == (2, 1)
    with pytest.raises(ValueError, match=r"MeanSquaredError.*\(2, 3\).*\(2, 2\)"):
        mse(np.zeros((2, 3)), np.zeros((2, 2)))
    sparse = losses.SparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        sparse(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="one integer label per sample"):
        sparse(np.array([0, 1, 2]), np.full((2, 3), 1 / 3))


def test_dtype_follows_predictions():
    y_pred = np.array([[0.2, 0.8]], dtype=np.float32)
    grad = losses.CategoricalCrossentropy().gradient(np.array([[0.0, 1.0]]), y_pred)
    assert grad.dtype == np.float32


def test_label_smoothing_like_keras():
    # s = 0.2, 2 classes: [0, 1] -> [0.1, 0.9];  binary 1 -> 0.9, 0 -> 0.1
    p = np.array([[0.25, 0.75]])
    expected = -(0.1 * math.log(0.25) + 0.9 * math.log(0.75))
    cce = losses.CategoricalCrossentropy(label_smoothing=0.2)
    assert cce(np.array([[0.0, 1.0]]), p) == pytest.approx(expected, rel=1e-12)
    bce = losses.BinaryCrossentropy(label_smoothing=0.2)
    assert bce(np.array([[1.0]]), np.array([[0.75]])) == pytest.approx(
        -(0.9 * math.log(0.75) + 0.1 * math.log(0.25)), rel=1e-12)
    rng = np.random.default_rng(4)
    y = np.eye(4)[rng.integers(0, 4, 5)]
    for loss, y_pred in ((cce, rng.uniform(0.1, 1, (5, 4))),
                         (losses.CategoricalCrossentropy(True, 0.3), rng.normal(size=(5, 4))),
                         (bce, rng.uniform(0.1, 0.9, (5, 4)))):
        numeric = numerical_gradient(lambda loss=loss, y_pred=y_pred: loss(y, y_pred), y_pred)
        assert relative_error(loss.gradient(y, y_pred), numeric) < 1e-6
    z = rng.normal(size=(5, 4))
    fused = cce.preactivation_gradient(y, activations.softmax(z), activations.softmax)
    np.testing.assert_allclose(fused, losses.CategoricalCrossentropy(True, 0.2).gradient(y, z),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=1.5)
