"""chalknet.activations: hand-computed values, derivatives against finite differences, hostile
inputs, names."""

import math

import numpy as np
import pytest

from chalknet import activations
from chalknet.utils import numerical_gradient, relative_error

NAMES = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "softmax"]

# (name, input, expected) worked by hand: sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4,
# tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5, elu(-ln 2) = 1/2 - 1, softplus(ln 3) = ln 4,
# softmax([0, ln 3]) = [1, 3] / 4.
TABLE = [
    ("linear", [-2.0, 0.0, 3.0], [-2.0, 0.0, 3.0]),
    ("relu", [-2.0, 0.0, 3.0], [0.0, 0.0, 3.0]),
    ("leaky_relu", [-2.0, 0.0, 3.0], [-0.02, 0.0, 3.0]),
    ("sigmoid", [0.0, math.log(3), -math.log(3)], [0.5, 0.75, 0.25]),
    ("tanh", [0.0, math.log(2)], [0.0, 0.6]),
    ("elu", [-math.log(2), 2.0], [-0.5, 2.0]),
    ("softplus", [math.log(3), 0.0], [math.log(4), math.log(2)]),
    ("softmax", [[0.0, math.log(3)]], [[0.25, 0.75]]),
]


@pytest.mark.parametrize(("name", "x", "expected"), TABLE)
def test_values_by_hand(name, x, expected):
    got = activations.get(name)(np.array(x))
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(name):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5))
    x[np.abs(x) < 0.05] += 0.2  # keep relu/leaky_relu/elu away from their kink at 0
    f = activations.get(name)
    projection = rng.normal(size=x.shape)
    analytic = f.backward(x, f(x), projection)
    numeric = numerical_gradient(lambda: float(np.sum(f(x) * projection)), x)
    assert relative_error(analytic, numeric) < 1e-8


@pytest.mark.parametrize("name", [n for n in NAMES if n != "softmax"])
def test_derivative_is_f_prime(name):
    """derivative(x, y) is f'(x) itself (what a student reads), not only inside backward."""
    f = activations.get(name)
    x = np.array([-1.3, -0.4, 0.7, 2.1])
    numeric = (f(x + 1e-6) - f(x - 1e-6)) / 2e-6
    np.testing.assert_allclose(f.derivative(x, f(x)), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(name, dtype):
    f = activations.get(name)
    x = np.linspace(-2, 2, 6, dtype=dtype).reshape(2, 3)
    y = f(x)
    assert y.dtype == dtype
    assert f.backward(x, y, np.ones_like(x)).dtype == dtype


def test_hostile_inputs_are_finite_and_right():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(activations.sigmoid(np.array([1e3, -1e3])), [1.0, 0.0])
        np.testing.assert_array_equal(activations.softmax(np.array([[1e4, 0.0, -1e4]])),
                                      [[1.0, 0.0, 0.0]])
        np.testing.assert_allclose(activations.softmax(np.array([[1e4, 1e4]])), [[0.5, 0.5]])
        np.testing.assert_array_equal(activations.softplus(np.array([1e3, -1e3])), [1e3, 0.0])
        np.testing.assert_array_equal(activations.elu(np.array([-1e3, 1e3])), [-1.0, 1e3])
        np.testing.assert_array_equal(activations.tanh(np.array([-1e3, 1e3])), [-1.0, 1.0])


def test_softmax_rows_sum_to_one_on_last_axis():
    x = np.random.default_rng(0).normal(size=(2, 3, 7)) * 30
    np.testing.assert_allclose(activations.softmax(x).sum(axis=-1), 1.0, rtol=1e-14)


def test_names_callables_and_errors():
    for name in NAMES:
        f = activations.get(name)
        assert f.name == name
        assert getattr(activations, name) is f
        assert activations.serialize(f) == name
    assert activations.get(None) is activations.linear
    assert activations.get(activations.relu) is activations.relu
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        activations.get("rleu")
    with pytest.raises(TypeError, match="derivative"):
        activations.get(np.tanh)
    with pytest.raises(ValueError, match="cannot be saved"):
        activations.serialize(activations.LeakyReLU(0.3))
