"""Numerically hostile but valid input, and a model left consistent by Ctrl-C.

What tests/test_losses.py and tests/test_activations.py already cover is not repeated here
(cross-entropy from logits of +/-1e4, sigmoid at +/-1e3, softmax at +/-1e4, clipped log(0));
this file adds the paths a model takes: the fused softmax/sigmoid + cross-entropy gradient of a
training step, the sparse loss from logits, and float32 layers.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

import chalknet
from chalknet import activations, callbacks, layers, losses
from chalknet.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("one_thread")


def test_fused_softmax_cross_entropy_gradient_at_huge_logits():
    # softmax([1e4, -1e4, 0]) = [1, 0, 0] exactly; with the label 2 the fused gradient
    # (y_pred - y_true) / batch is [1, 0, -1] (batch 1), and the loss is -ln(1e-7) (clipped).
    logits = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    y_pred = activations.softmax(logits)
    assert np.array_equal(y_pred, [[1.0, 0.0, 0.0]])
    for loss, y_true in ((losses.CategoricalCrossentropy(), np.array([[0.0, 0.0, 1.0]])),
                         (losses.SparseCategoricalCrossentropy(), np.array([2]))):
        dz = loss.preactivation_gradient(y_true, y_pred, activations.softmax)
        np.testing.assert_array_equal(dz, [[1.0, 0.0, -1.0]])
        value = loss(y_true, y_pred)
        assert value == pytest.approx(-np.log(1e-7), rel=1e-5)  # clipped log(0), as Keras


def test_sparse_cross_entropy_from_logits_of_1e4():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss(np.array([1]), np.array([[-1e4, 1e4]])) == 0.0
        assert loss(np.array([0]), np.array([[-1e4, 1e4]])) == pytest.approx(2e4)
        grad = loss.gradient(np.array([0]), np.array([[-1e4, 1e4]]))
    np.testing.assert_array_equal(grad, [[-1.0, 1.0]])


def test_a_training_step_on_huge_logits_stays_finite():
    # A Dense softmax layer whose logits are +/-1e4 (weights 1e4): loss, gradients and the
    # updated weights stay finite in float32, for softmax and for sigmoid outputs.
    for activation, loss, y in (("softmax", "categorical_crossentropy", np.eye(2)[[1, 0]]),
                                ("sigmoid", "binary_crossentropy", np.array([[0.0], [1.0]]))):
        set_random_seed(0)
        units = y.shape[1]
        model = chalknet.Sequential([chalknet.Input(shape=(2,)),
                                     layers.Dense(units, activation=activation)])
        model.layers[0].set_weights([np.full((2, units), 1e4, dtype=np.float32),
                                     np.zeros(units, dtype=np.float32)])
        model.compile("sgd", loss)
        x = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
        value = model.train_on_batch(x, y)
        assert np.isfinite(value), f"{activation}: loss {value}"
        assert all(np.isfinite(w).all() for w in model.get_weights()), activation
        assert np.isfinite(model.predict(x)).all()


def test_model_after_ctrl_c_equals_the_same_batches_trained_without_interruption():
    """Ctrl-C after batch 7 (epoch 2, batch 2): the weights and optimizer state are exactly
    those of 5 + 2 uninterrupted batches, and the model still predicts and evaluates."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=40)

    def model():
        set_random_seed(0)
        built = chalknet.Sequential([chalknet.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                                     layers.Dense(3, activation="softmax")])
        built.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        return built

    interrupted = model()

    def press_ctrl_c(batch, logs):
        if interrupted.optimizer.iterations == 7:
            signal.raise_signal(signal.SIGINT)

    history = interrupted.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
                              callbacks=[callbacks.LambdaCallback(on_train_batch_end=press_ctrl_c)])
    assert history.interrupted and len(history.history["loss"]) == 1

    straight = model()
    straight.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    straight.train_on_batch(x[:8], y[:8])
    straight.train_on_batch(x[8:16], y[8:16])
    assert interrupted.optimizer.iterations == straight.optimizer.iterations == 7
    for index, (got, want) in enumerate(zip(interrupted.get_weights(), straight.get_weights(),
                                            strict=True)):
        assert np.array_equal(got, want), f"weight {index} differs after Ctrl-C"
    np.testing.assert_array_equal(interrupted.predict(x), straight.predict(x))
    assert np.isfinite(interrupted.evaluate(x, y, verbose=0)).all()
