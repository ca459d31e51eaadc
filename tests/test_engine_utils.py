"""to_categorical, normalize, regularizers and initializers."""

import json

import numpy as np
import pytest

from chalknet import initializers, regularizers
from chalknet.utils import (
    normalize,
    numerical_gradient,
    relative_error,
    set_random_seed,
    to_categorical,
)


def test_to_categorical_like_keras():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]),
                                  [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert to_categorical([0, 2, 1]).dtype == np.float32
    assert to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert to_categorical(np.zeros((2, 3), dtype=int), 5).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="out of range for num_classes=2"):
        to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="non-negative integers"):
        to_categorical([0.5])


def test_normalize_like_keras():
    np.testing.assert_allclose(normalize(np.array([[3.0, 4.0], [0.0, 0.0]])),
                               [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(np.array([[1.0, -3.0]]), order=1), [[0.25, -0.75]])
    np.testing.assert_allclose(normalize(np.array([[3.0], [4.0]]), axis=0), [[0.6], [0.8]])


def test_regularizers_by_hand():
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert regularizers.L1(0.1)(w) == pytest.approx(0.6)
    assert regularizers.L2(0.1)(w) == pytest.approx(1.4)
    assert regularizers.l1_l2()(w) == pytest.approx(0.01 * 6 + 0.01 * 14)
    assert regularizers.L1L2()(w) == 0.0
    assert regularizers.get("l2").l2 == 0.01 and regularizers.get("l1").l1 == 0.01
    assert regularizers.l2 is regularizers.L2 and regularizers.l1 is regularizers.L1
    np.testing.assert_array_equal(regularizers.L1(0.5).gradient(w), [[0.5, -0.5], [0.0, 0.5]])
    for reg in (regularizers.L2(0.3), regularizers.L1L2(0.2, 0.4)):
        v = np.array([[0.7, -1.2], [0.4, 2.0]])
        assert relative_error(reg.gradient(v), numerical_gradient(lambda r=reg, v=v: r(v), v)) \
            < 1e-8
    config = json.loads(json.dumps(regularizers.serialize(regularizers.L1L2(0.2, 0.4))))
    again = regularizers.get(config)
    assert (again.l1, again.l2) == (0.2, 0.4)
    with pytest.raises(ValueError, match="unknown regularizer"):
        regularizers.get("l3")


def test_initializers_statistics():
    set_random_seed(0)
    shape = (400, 300)
    glorot = initializers.get("glorot_uniform")(shape)
    limit = np.sqrt(6 / 700)
    assert glorot.dtype == np.float32 and np.abs(glorot).max() <= limit
    assert glorot.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)  # uniform: limit/sqrt(3)
    he = initializers.get("he_normal")(shape, np.float64)
    assert he.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert np.abs(he).max() <= 2 * np.sqrt(2 / 400) / 0.8796256610342398 + 1e-12
    he_uniform = initializers.get("he_uniform")(shape)
    assert np.abs(he_uniform).max() <= np.sqrt(6 / 400)
    conv = initializers.get("glorot_uniform")((3, 3, 16, 32))  # fans include the 3x3 field
    assert np.abs(conv).max() <= np.sqrt(6 / (9 * 16 + 9 * 32))
    q = initializers.get("orthogonal")((5, 3), np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    assert np.all(initializers.get("ones")((2,)) == 1)
    assert initializers.get("random_normal")((1000,)).std() == pytest.approx(0.05, rel=0.1)


def test_initializers_get_and_serialize():
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    custom = initializers.RandomNormal(stddev=0.2)
    config = json.loads(json.dumps(initializers.serialize(custom)))
    assert initializers.get(config).stddev == 0.2
    assert initializers.serialize("he_normal") == "he_normal"
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        initializers.get("glorot")
