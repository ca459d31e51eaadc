"""chalknet.utils.gradient_check: it passes correct code, catches wrong code, and works for any
object with the forward/backward/get_weights/set_weights/get_gradients protocol."""

import numpy as np
import pytest

from chalknet.layers import Dense, Layer
from chalknet.utils import gradient_check, numerical_gradient, relative_error
from layer_chain import Chain


class WrongBias(Dense):
    """A Dense layer whose bias gradient forgets to sum over the batch (takes row 0 only)."""

    def backward_preactivation(self, dz):
        dx = super().backward_preactivation(dz)
        self.set_gradient("bias", np.asarray(dz).reshape(-1, self.units)[0])
        return dx


def test_catches_a_wrong_gradient_and_names_it():
    x = np.random.default_rng(0).normal(size=(4, 3))
    report = gradient_check(WrongBias(2, dtype="float64"), x)
    assert not report.passed and not bool(report)
    assert report.worst == "bias" and report.errors["bias"] > 0.1
    assert report.errors["kernel"] < 1e-8 and report.errors["input"] < 1e-8
    assert "bias" in str(report) and "too large" in str(report)


def test_works_on_a_model_like_object_and_names_duplicate_weights():
    x = np.random.default_rng(1).normal(size=(3, 4))
    model = Chain(Dense(5, activation="tanh", dtype="float64"),
                  Dense(2, activation="softmax", dtype="float64"))
    report = gradient_check(model, x, verbose=True)
    assert report.passed, str(report)
    assert set(report.errors) == {"input", "0:kernel", "1:bias", "2:kernel", "3:bias"}
    weights_before = model.get_weights()
    gradient_check(model, x)
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # the check leaves the weights as they were


def test_float32_models_are_refused_but_float32_layers_are_copied():
    x = np.ones((2, 3))
    model = Chain(Dense(2))
    model.forward(x)
    with pytest.raises(ValueError, match="float64"):
        gradient_check(model, x)
    layer = Dense(2)
    layer(x)
    kernel = layer.kernel.copy()
    assert gradient_check(layer, x).passed
    np.testing.assert_array_equal(layer.kernel, kernel)


def test_layer_without_weights_reports_the_input_only():
    class Square(Layer):
        def forward(self, x, training=False):
            self._x = np.asarray(x)
            return self._x ** 2

        def backward(self, dy):
            return 2 * self._x * dy

    report = gradient_check(Square(), np.array([[1.0, -2.0, 3.0]]))
    assert report.passed and list(report.errors) == ["input"]


def test_numerical_gradient_and_relative_error_by_hand():
    x = np.array([1.0, 2.0, -3.0])
    grad = numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    np.testing.assert_allclose(grad, 3 * np.array([1.0, 4.0, 9.0]), rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, 2.0, -3.0])  # restored
    assert relative_error([1.0, 2.0], [1.0, 2.5]) == pytest.approx(0.2)
    assert relative_error([0.0], [0.0]) == 0.0
