"""Normalization: adapt against NumPy's statistics, given statistics, axes, errors, gradients."""

import json

import numpy as np
import pytest

from chalknet.layers import Normalization
from chalknet.utils import gradient_check


def test_adapt_learns_mean_variance_and_count():
    data = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0]])
    layer = Normalization(dtype="float64")
    layer.adapt(data)
    np.testing.assert_allclose(layer.mean, [3.0, 20.0])
    # population variances: (4 + 0 + 4) / 3 and (100 + 100 + 400) / 3
    np.testing.assert_allclose(layer.variance, [8 / 3, 200.0])
    assert layer.count == 3
    assert layer.trainable_weight_names == []
    y = layer(data)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-14)


def test_axes():
    rng = np.random.default_rng(0)
    images = rng.normal(3.0, 2.0, size=(50, 4, 4, 3)) * np.array([1.0, 10.0, 0.1])
    per_channel = Normalization(dtype="float64")
    per_channel.adapt(images)
    assert per_channel.mean.shape == (1, 1, 3)
    np.testing.assert_allclose(per_channel.mean.ravel(), images.mean(axis=(0, 1, 2)))
    everything = Normalization(axis=None, dtype="float64")
    everything.adapt(images)
    assert everything.mean.size == 1 and everything.count == images.size
    np.testing.assert_allclose(everything.variance.ravel(), [images.var()])
    by_row = Normalization(axis=1, dtype="float64")
    by_row.adapt(images)
    assert by_row.mean.shape == (4, 1, 1)


def test_given_mean_and_variance():
    layer = Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], dtype="float64")
    np.testing.assert_allclose(layer(np.array([[3.0, 2.0]])), [[1.0, 0.0]])
    with pytest.raises(ValueError, match="do not broadcast"):
        Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 1.0, 1.0])(np.ones((1, 2)))
    with pytest.raises(ValueError, match="both mean and variance"):
        Normalization(mean=[1.0])


def test_constant_feature_is_not_divided_by_zero():
    layer = Normalization(dtype="float64")
    layer.adapt(np.array([[1.0, 5.0], [3.0, 5.0]]))
    y = layer(np.array([[2.0, 5.0]]))
    assert np.all(np.isfinite(y)) and y[0, 1] == 0.0


def test_errors():
    with pytest.raises(RuntimeError, match="call adapt"):
        Normalization()(np.ones((2, 3)))
    layer = Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"expected input shape \(None, 3\), received \(2, 5\)"):
        layer(np.ones((2, 5)))
    with pytest.raises(ValueError, match="batch axis"):
        Normalization(axis=0)


def test_gradient_check_and_weights_round_trip():
    rng = np.random.default_rng(1)
    layer = Normalization(dtype="float64")
    layer.adapt(rng.normal(2.0, 3.0, size=(40, 5)))
    report = gradient_check(layer, rng.normal(size=(3, 5)))
    assert report.passed, str(report)
    config = json.loads(json.dumps(layer.get_config()))
    clone = Normalization.from_config(config)
    clone.maybe_build((5,))
    clone.set_weights(layer.get_weights())  # loading a saved model marks it adapted
    x = rng.normal(size=(2, 5))
    np.testing.assert_array_equal(clone(x), layer(x))
