"""Dropout: masks, scaling in both modes, equivalence in expectation, backward, seeds."""

import json

import numpy as np
import pytest

from chalknet.layers import Dropout
from chalknet.utils import gradient_check, set_random_seed


def test_inference_is_identity_or_scaled():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(Dropout(0.25, dtype="float64")(x), x)
    np.testing.assert_array_equal(Dropout(0.25, mode="classic", dtype="float64")(x), x * 0.75)
    classic = Dropout(0.25, mode="classic", dtype="float64")
    classic(x)
    np.testing.assert_array_equal(classic.backward(np.ones_like(x)), np.full_like(x, 0.75))


@pytest.mark.parametrize(("mode", "kept_value"), [("inverted", 1 / 0.6), ("classic", 1.0)])
def test_training_masks_and_scaling(mode, kept_value):
    set_random_seed(0)
    layer = Dropout(0.4, mode=mode, dtype="float64")
    x = np.ones((200, 100))
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], kept_value, rtol=1e-15)
    # 20,000 Bernoulli(0.6) draws: the kept fraction is within 5 standard deviations of 0.6
    assert abs(kept.mean() - 0.6) < 5 * np.sqrt(0.6 * 0.4 / kept.size)
    dy = np.random.default_rng(1).normal(size=x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy * y)  # same mask, same factor


def test_both_modes_agree_in_expectation():
    """E[training output] = test output, for the inverted form (test: x) and the classic one
    (test: (1 - p) x)."""
    x = np.random.default_rng(2).normal(size=(1, 5))
    for mode in ("inverted", "classic"):
        set_random_seed(1)
        layer = Dropout(0.3, mode=mode, dtype="float64")
        samples = np.stack([layer.forward(np.repeat(x, 4000, axis=0), training=True)
                            for _ in range(5)])
        mean = samples.reshape(-1, 5).mean(axis=0)
        scale = 1 / 0.7 if mode == "inverted" else 1.0
        stderr = np.abs(x[0]) * scale * np.sqrt(0.3 * 0.7 / 20000)
        assert np.all(np.abs(mean - layer.forward(x)[0]) < 5 * stderr)


def test_seed_repeats_the_mask_and_gradient_check_with_a_fixed_mask():
    x = np.random.default_rng(3).normal(size=(4, 6))
    set_random_seed(5)
    first = Dropout(0.5).forward(x, training=True)
    set_random_seed(5)
    np.testing.assert_array_equal(Dropout(0.5).forward(x, training=True), first)
    for mode in ("inverted", "classic"):
        for training in (True, False):
            report = gradient_check(Dropout(0.5, mode=mode), x, training=training, seed=7)
            assert report.passed, str(report)


def test_noise_shape_drops_whole_feature_maps():
    set_random_seed(4)
    layer = Dropout(0.5, noise_shape=(None, 1, 1, 8), dtype="float64")
    y = layer.forward(np.ones((3, 4, 4, 8)), training=True)
    per_map = y.reshape(3, 16, 8)
    assert np.all(per_map == per_map[:, :1, :])  # one decision per (sample, channel)
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 8)).forward(np.ones((3, 4, 4, 8)), training=True)


def test_errors_and_config():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="mode must be 'inverted' or 'classic'"):
        Dropout(0.5, mode="scaled")
    layer = Dropout(0.2, noise_shape=[None, 1], mode="classic")
    clone = Dropout.from_config(json.loads(json.dumps(layer.get_config())))
    assert clone.get_config() == layer.get_config()
