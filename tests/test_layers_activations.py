"""ReLU, LeakyReLU, PReLU, Maxout and Softmax layers: values by hand, gradient checks, configs."""

import json

import numpy as np
import pytest

from chalknet import activations
from chalknet.layers import LeakyReLU, Maxout, PReLU, ReLU, Softmax, get_layer_class
from chalknet.utils import gradient_check

X = np.array([[-3.0, -0.5, 0.5, 2.0, 7.0]])


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, [0.0, 0.0, 0.5, 2.0, 7.0]),
    ({"max_value": 6.0}, [0.0, 0.0, 0.5, 2.0, 6.0]),
    ({"negative_slope": 0.1}, [-0.3, -0.05, 0.5, 2.0, 7.0]),
    # below the threshold 1: 0.1 * (x - 1)
    ({"threshold": 1.0, "negative_slope": 0.1}, [-0.4, -0.15, -0.05, 2.0, 7.0]),
])
def test_relu_options_by_hand(kwargs, expected):
    np.testing.assert_allclose(ReLU(dtype="float64", **kwargs)(X), [expected], rtol=1e-15)


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 1.5, "negative_slope": 0.2},
                                    {"threshold": 0.3}])
def test_relu_gradient_check(kwargs):
    x = np.random.default_rng(0).uniform(-3, 3, size=(4, 6))
    x[np.abs(x) < 0.05] = 1.0  # away from the kinks at 0
    x[np.abs(x - 0.3) < 0.05] = 1.0  # ... at the threshold 0.3
    x[np.abs(x - 1.5) < 0.05] = 1.0  # ... at max_value 1.5
    assert gradient_check(ReLU(**kwargs), x).passed


def test_relu_derivative_at_the_kink_is_zero():
    layer = ReLU(dtype="float64")
    layer(np.array([[0.0, 1.0]]))
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 5.0]])), [[0.0, 5.0]])


def test_leaky_relu_default_slope_and_keras2_alias():
    np.testing.assert_allclose(LeakyReLU(dtype="float64")(X), [[-0.03, -0.005, 0.5, 2.0, 7.0]])
    assert LeakyReLU(alpha=0.3).negative_slope == 0.3
    assert LeakyReLU(negative_slope=0.2).get_config()["negative_slope"] == 0.2
    assert gradient_check(LeakyReLU(0.2), X).passed


def test_prelu_values_shapes_and_gradients():
    layer = PReLU(dtype="float64")
    layer(np.zeros((1, 2, 3)))
    assert layer.alpha.shape == (2, 3) and np.all(layer.alpha == 0)
    images = PReLU(shared_axes=[1, 2])
    images(np.zeros((1, 4, 5, 3)))
    assert images.alpha.shape == (1, 1, 3)
    layer = PReLU(dtype="float64")
    layer(X)
    layer.set_weights([np.array([0.5, 0.25, 9.0, 9.0, 9.0])])
    np.testing.assert_allclose(layer.forward(X), [[-1.5, -0.125, 0.5, 2.0, 7.0]])
    rng = np.random.default_rng(1)
    for shared in (None, [1], [1, 2]):
        prelu = PReLU(alpha_initializer="random_normal", shared_axes=shared)
        report = gradient_check(prelu, rng.normal(size=(3, 4, 2, 3)))
        assert report.passed, str(report)
        assert set(report.errors) == {"input", "alpha"}
    with pytest.raises(ValueError, match=r"shared_axes must be in \[1, 2\]"):
        PReLU(shared_axes=[3])(np.zeros((1, 2, 3)))


def test_maxout_by_hand_and_gradient_to_the_argmax():
    layer = Maxout(2, dtype="float64")
    x = np.array([[1.0, 5.0, 3.0, -1.0, -4.0, -2.0]])  # groups [1, 5, 3] and [-1, -4, -2]
    np.testing.assert_array_equal(layer(x), [[5.0, -1.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[10.0, 20.0]])),
                                  [[0.0, 10.0, 0.0, 20.0, 0.0, 0.0]])
    ties = Maxout(1, dtype="float64")
    ties(np.array([[2.0, 2.0]]))
    np.testing.assert_array_equal(ties.backward(np.array([[1.0]])), [[1.0, 0.0]])
    assert layer.compute_output_shape((7, 6)) == (7, 2)
    x = np.random.default_rng(2).permutation(24).reshape(2, 12) / 4.0  # distinct: no ties
    assert gradient_check(Maxout(4), x).passed
    with pytest.raises(ValueError, match=r"multiple of num_units=4.*\(6,\)"):
        Maxout(4)(np.zeros((1, 6)))


def test_softmax_layer():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(Softmax(dtype="float64")(x), activations.softmax(x), rtol=1e-15)
    by_axis_1 = Softmax(axis=1, dtype="float64")(x)
    np.testing.assert_allclose(by_axis_1.sum(axis=1), 1.0, rtol=1e-15)
    for axis in (-1, 1):
        assert gradient_check(Softmax(axis=axis), x).passed
    assert Softmax().activation is activations.softmax
    assert Softmax(axis=1).activation is None
    hostile = Softmax(dtype="float64")(np.array([[1e4, -1e4, 0.0]]))
    np.testing.assert_array_equal(hostile, [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("layer", [ReLU(max_value=6.0), LeakyReLU(0.1),
                                   PReLU(alpha_initializer="ones", shared_axes=[1]), Maxout(3),
                                   Softmax(axis=2)])
def test_config_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    clone = get_layer_class(type(layer).__name__).from_config(config)
    assert clone.get_config() == layer.get_config()
