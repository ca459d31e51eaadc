"""Chapter 1: bias^2 falls and variance rises with the degree; ridge trades variance for bias;
the Monte Carlo decomposition agrees with the exact one of linear least squares."""

from __future__ import annotations

import numpy as np
import pytest

from chalknet import classic
from chalknet.course import bias_variance as chapter


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return chapter.run(tmp_path_factory.mktemp("bias_variance"), quick=True)


def test_variance_rises_with_the_degree(results):
    variance = np.array(results["variance"])
    assert np.all(variance[1:] > variance[:-1] * 0.98), variance
    assert variance[-1] > 10 * variance[0]


def test_bias_squared_falls_with_the_degree_until_the_model_can_follow_h(results):
    bias = np.array(results["bias_squared"])
    assert np.all(bias[1:5] < bias[:4]), bias          # degrees 0..4: strictly falling
    assert bias[0] > 100 * bias[4:].max(), bias        # then it stays near zero


def test_total_error_is_u_shaped_and_matches_the_measured_test_error(results):
    expected = np.array(results["expected_error"])
    best = results["best_degree"]
    assert 2 <= best <= 6
    assert expected[best] < expected[0] and expected[best] < expected[-1]
    # Fresh noisy targets at the test inputs: their mean squared error is what bias^2 +
    # variance + noise predicts (12,060 squared errors per degree: a few % of sampling error).
    np.testing.assert_allclose(results["test_error"], expected, rtol=0.06)
    assert min(results["test_error"]) > results["noise"] * 0.95


def test_ridge_lambda_raises_bias_and_lowers_variance(results):
    variance = np.array(results["ridge_variance"])
    bias = np.array(results["ridge_bias_squared"])
    l2 = np.array(results["l2_values"])
    assert np.all(variance[1:] < variance[:-1]), variance
    above_floor = l2 >= 1e-3
    assert np.all(np.diff(bias[above_floor]) > 0), bias
    assert bias[-1] > 100 * bias[0]
    assert 1e-4 <= results["best_l2"] <= 1.0


def test_pictures_are_written(results):
    pytest.importorskip("matplotlib")
    assert len(results["pictures"]) == 4
    for path in results["pictures"]:
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("degree", [1, 3, 8])
def test_monte_carlo_decomposition_matches_the_exact_one(degree):
    # With fixed inputs the fit is linear in the targets, w = X^+ t, so the mean prediction at
    # test inputs is Phi X^+ h(x) and the variance is sigma^2 ||row of Phi X^+||^2, exactly.
    x = np.linspace(-1, 1, chapter.TRAINING_POINTS)
    x_test = np.linspace(-1, 1, 101)
    design, test_design = (classic.polynomial_features(v, degree) for v in (x, x_test))
    hat = test_design @ np.linalg.pinv(design)
    sigma2 = chapter.NOISE_STD**2
    exact_bias = np.mean((hat @ chapter.true_function(x) - chapter.true_function(x_test)) ** 2)
    exact_variance = sigma2 * np.mean(np.sum(hat**2, axis=1))

    sets = 4000
    targets = chapter.draw_training_sets(x, sets, np.random.default_rng(11))
    predictions = chapter.fit_and_predict(x, targets, x_test, degree)
    parts = classic.bias_variance_decomposition(predictions, chapter.true_function(x_test),
                                                sigma2)
    # The variance estimate has relative standard error about sqrt(2 / sets) ~ 2 %; the bias^2
    # estimate carries variance / sets of noise from the mean of a finite number of fits.
    assert parts.variance == pytest.approx(exact_variance, rel=0.08)
    assert abs(parts.bias_squared - exact_bias) < 0.05 * exact_bias + 5 * exact_variance / sets


def test_trained_dense_with_l2_converges_to_the_closed_form_ridge(results):
    # Two independent routes to one minimiser: classic.ridge (SVD) and chalknet's Dense with
    # kernel_regularizer=L2(lambda / N) trained by gradient descent for 3000 steps.
    assert results["ridge_closed_form_vs_trained_max_difference"] < 1e-8
