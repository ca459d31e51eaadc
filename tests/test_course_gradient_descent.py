"""Chapter 2: chalknet's optimizers on a two-parameter loss surface."""

from __future__ import annotations

import numpy as np
import pytest

from chalknet.course import gradient_descent as chapter

pytest.importorskip("chalknet.optimizers", reason="needs chalknet.optimizers (branch train)")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return chapter.run(tmp_path_factory.mktemp("gradient_descent"), quick=True)


def test_feature_scaling_makes_the_contours_round(results):
    # Standardised x has mean 0 and variance 1, so the Hessian is exactly 2 I.
    assert results["condition_number_scaled"] == pytest.approx(1.0, abs=1e-9)
    assert results["condition_number_raw"] > 50


def test_every_optimizer_reaches_the_minimum_of_the_scaled_surface(results):
    # The start is 7.2 away from the minimum in (w, b).
    for name, distance in results["final_distance_scaled"].items():
        assert distance < 0.05, name


def test_momentum_and_adam_beat_plain_gd_on_the_elongated_surface(results):
    gaps = results["final_gap_raw"]
    assert gaps["momentum 0.9"] < gaps["gradient descent"] / 10
    assert gaps["Adam"] < gaps["gradient descent"] / 10
    assert gaps["gradient descent"] > 0.5  # plain GD is still crawling along the valley


def test_learning_rate_thresholds(results):
    # For standardised x, lambda_max = 2, so GD converges iff lr < 2 / 2 = 1.
    assert results["critical_learning_rate"] == pytest.approx(1.0, rel=1e-12)
    gaps = results["learning_rate_gaps"]
    start, end = gaps["diverging (1.05 x critical)"]
    assert end > 10 * start
    start, end = gaps["oscillating (0.95 x critical)"]
    assert end < 1e-2 * start
    start, end = gaps["good (0.3 x critical)"]
    assert end < 1e-10 * start
    start, end = gaps["too small (0.002 x critical)"]
    assert end > 0.5 * start


def test_stochastic_is_fast_at_first_but_keeps_jittering(results):
    one_epoch = results["gap_after_one_epoch"]
    stochastic, full = "stochastic, 1 sample per step", "full batch (1 step per epoch)"
    assert one_epoch[stochastic] < one_epoch[full] / 100
    assert results["gap_after_last_epoch"][full] < results["stochastic_mean_gap_last_epoch"] / 100


def test_descend_takes_the_textbook_gradient_step():
    # w <- w - lr * grad L with grad L = H (theta - theta*) for the quadratic surface.
    from chalknet import optimizers

    rng = np.random.default_rng(0)
    x, y = chapter.make_data(rng)
    surface = chapter.Surface(x, y)
    start = np.array([0.5, 0.5])
    learning_rate = 0.01
    path = chapter.descend(optimizers.SGD(learning_rate=learning_rate), x, y, start, steps=5)
    theta = start.copy()
    for step in range(1, 6):
        theta = theta - learning_rate * surface.hessian @ (theta - surface.minimum)
        np.testing.assert_allclose(path[step], theta, rtol=1e-10)


def test_pictures_are_written(results):
    pytest.importorskip("matplotlib")
    assert len(results["pictures"]) == 3
