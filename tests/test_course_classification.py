"""Chapter 3: the generative model and logistic regression agree on Gaussian classes; far-away
points break least squares but not logistic regression; MSE has a plateau, cross-entropy not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chalknet.course import classification as chapter

pytest.importorskip("chalknet.models", reason="needs Sequential (branch train)")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return chapter.run(tmp_path_factory.mktemp("classification"), quick=True)


def bayes_accuracy():
    """The best possible accuracy for the chapter's two Gaussians (equal priors, shared
    covariance): Phi(Delta / 2), Delta the Mahalanobis distance between the means."""
    difference = chapter.CLASS_MEANS[1] - chapter.CLASS_MEANS[0]
    delta = math.sqrt(difference @ np.linalg.solve(chapter.SHARED_COVARIANCE, difference))
    return 0.5 * (1 + math.erf(delta / 2 / math.sqrt(2)))


def test_generative_and_logistic_reach_the_bayes_rate_with_nearly_the_same_boundary(results):
    best = bayes_accuracy()  # about 0.97 for these means and covariance
    assert results["generative_accuracy"] >= best - 0.03
    assert results["logistic_accuracy"] >= best - 0.03
    assert results["boundary_angle_degrees"] < 10


def test_generative_weights_run_unchanged_in_a_dense_sigmoid_layer(results):
    assert results["dense_vs_generative_max_difference"] < 1e-12


def test_far_away_points_move_least_squares_but_not_logistic_regression(results):
    assert results["least_squares_accuracy_clean"] >= bayes_accuracy() - 0.03
    assert results["least_squares_accuracy_outliers"] < results["least_squares_accuracy_clean"] \
        - 0.05
    assert results["logistic_accuracy_outliers"] >= results["logistic_accuracy_clean"] - 0.01


def test_least_squares_and_gaussian_model_share_fishers_direction(results):
    # Bishop 4.1.5: for two classes the least-squares weights are parallel to
    # Sigma^-1 (mu_1 - mu_0), which is also the generative model's w.
    assert results["least_squares_vs_generative_angle_degrees_clean"] < 1e-6
    assert results["least_squares_vs_generative_angle_degrees_outliers"] < 1e-6


def test_mse_has_a_high_flat_plateau_and_cross_entropy_has_none(results):
    assert results["mse_plateau_fraction"] > 0.05
    assert results["cross_entropy_plateau_fraction"] == 0.0
    assert results["cross_entropy_gradient_at_wrong_start"] > \
        10 * results["mse_gradient_at_wrong_start"]
    assert results["mse_accuracy_after_descent"] < 0.5
    assert results["cross_entropy_accuracy_after_descent"] > 0.9


def test_surface_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(20)
    y = (rng.random(20) < 0.5).astype(float)
    step = 1e-6
    for w, b in [(-6.0, 0.5), (0.3, -0.2), (4.0, 7.0)]:
        at = chapter.sigmoid_loss_surfaces(x, y, np.array([w - step, w, w + step]),
                                           np.array([b - step, b, b + step]))
        for name in ("mse", "cross_entropy"):
            loss = at[name]   # rows: b, columns: w
            d_w = (loss[1, 2] - loss[1, 0]) / (2 * step)
            d_b = (loss[2, 1] - loss[0, 1]) / (2 * step)
            assert at[f"{name}_gradient_norm"][1, 1] == pytest.approx(math.hypot(d_w, d_b),
                                                                     rel=1e-6, abs=1e-10)


def test_pictures_are_written(results):
    pytest.importorskip("matplotlib")
    assert [p.rsplit("/", 1)[-1] for p in results["pictures"]] == [
        "generative_vs_logistic.png", "least_squares_vs_logistic.png",
        "mse_vs_cross_entropy_surfaces.png"]
