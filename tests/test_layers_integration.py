"""Layers, losses and gradient_check together: a small Keras-style convnet checked end to end,
and the fused softmax + cross-entropy path of the training step against finite differences."""

import numpy as np
import pytest

from chalknet import losses
from chalknet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Normalization
from chalknet.utils import gradient_check, numerical_gradient, relative_error
from layer_chain import Chain

pytestmark = pytest.mark.usefixtures("one_thread")


def small_convnet():
    """The Keras "simple MNIST convnet" shape, shrunk: conv-pool-conv-pool-flatten-dropout-dense."""
    return Chain(
        Conv2D(3, 3, activation="tanh", dtype="float64"), MaxPooling2D(dtype="float64"),
        Conv2D(4, 2, activation="softplus", dtype="float64"), MaxPooling2D(dtype="float64"),
        Flatten(dtype="float64"), Dropout(0.25, dtype="float64"),
        Dense(5, activation="softmax", dtype="float64"),
    )


def test_small_convnet_gradient_check_in_training_mode():
    x = np.random.default_rng(0).normal(size=(2, 10, 10, 1))
    model = small_convnet()
    report = gradient_check(model, x, training=True, seed=11)
    assert report.passed, str(report)
    assert len(report.errors) == 1 + 6  # the input, then kernel and bias of the three layers


def test_fused_training_step_gradient_matches_finite_differences():
    """The training step's path: loss.preactivation_gradient, then backward_preactivation of the
    softmax layer, then backward through the rest, gives dLoss/dweights."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 10, 10, 1))
    labels = np.array([0, 3, 4])
    model = small_convnet()
    loss = losses.get("sparse_categorical_crossentropy")
    y_pred = model.forward(x)
    dz = loss.preactivation_gradient(labels, y_pred, model.layers[-1].activation)
    assert dz is not None
    model.backward(dz, preactivation=True)
    analytic = model.get_gradients()
    weights = model.get_weights()
    for index, grad in enumerate(analytic):
        perturbed = [w.copy() for w in weights]

        def loss_of_weight(index=index, perturbed=perturbed):
            model.set_weights(perturbed)
            return loss(labels, model.forward(x))

        numeric = numerical_gradient(loss_of_weight, perturbed[index])
        assert relative_error(grad, numeric) < 1e-6, f"weight {index}"


def test_dense_network_with_normalization_and_regularization_float32():
    """float32 end to end: shapes, dtypes, and the regularized loss gradient in float64."""
    rng = np.random.default_rng(2)
    x = rng.normal(5.0, 3.0, size=(16, 4))
    norm = Normalization()
    norm.adapt(x)
    model = Chain(norm, Dense(8, activation="relu", kernel_regularizer="l2"),
                  Dense(1, activation="sigmoid"))
    y = model.forward(x)
    assert y.shape == (16, 1) and y.dtype == np.float32
    target = (x[:, :1] > 5).astype(np.float32)
    bce = losses.BinaryCrossentropy()
    dz = bce.preactivation_gradient(target, y, model.layers[-1].activation)
    dx = model.backward(dz, preactivation=True)
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.get_gradients())
    assert model.layers[1].regularization_loss() > 0


def test_first_layer_can_skip_the_input_gradient():
    rng = np.random.default_rng(3)
    for layer, x in ((Conv2D(2, 3, dtype="float64"), rng.normal(size=(2, 5, 5, 1))),
                     (Dense(3, dtype="float64"), rng.normal(size=(2, 4)))):
        y = layer.forward(x)
        dy = rng.normal(size=y.shape)
        assert layer.backward(dy) is not None
        full = layer.get_gradients()
        layer.needs_input_gradient = False
        assert layer.backward(dy) is None
        for with_dx, without in zip(full, layer.get_gradients(), strict=True):
            np.testing.assert_array_equal(with_dx, without)
