"""chalknet.classic: closed-form regression, the bias/variance decomposition and the Gaussian
generative classifier, each checked against an independent computation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from chalknet import classic


def test_polynomial_features_are_powers():
    x = np.array([-1.0, 0.5, 2.0])
    expected = np.array([[1, -1, 1, -1], [1, 0.5, 0.25, 0.125], [1, 2, 4, 8]], dtype=float)
    np.testing.assert_array_equal(classic.polynomial_features(x, 3), expected)
    assert classic.polynomial_features(x, 0).shape == (3, 1)


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_polynomial_features_rejects_bad_degree(bad):
    with pytest.raises(ValueError, match="degree"):
        classic.polynomial_features(np.zeros(3), bad)


def test_polynomial_features_rejects_2d_input():
    with pytest.raises(ValueError, match=r"1-D.*\(3, 2\)"):
        classic.polynomial_features(np.zeros((3, 2)), 2)


def test_least_squares_matches_normal_equations():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((40, 5))
    targets = rng.standard_normal(40)
    normal_equations = np.linalg.solve(features.T @ features, features.T @ targets)
    np.testing.assert_allclose(classic.least_squares(features, targets), normal_equations,
                               rtol=1e-10, atol=1e-12)


def test_least_squares_recovers_an_exact_polynomial():
    x = np.linspace(-1, 1, 9)
    coefficients = np.array([0.5, -2.0, 0.0, 3.0])
    targets = classic.polynomial_features(x, 3) @ coefficients
    np.testing.assert_allclose(classic.least_squares(classic.polynomial_features(x, 3), targets),
                               coefficients, atol=1e-12)


def test_least_squares_shape_errors_name_the_function():
    with pytest.raises(ValueError, match=r"least_squares: targets .*\(4,\)"):
        classic.least_squares(np.zeros((4, 2)), np.zeros(5))


@pytest.mark.parametrize("penalize_first", [False, True])
def test_ridge_matches_regularized_normal_equations(penalize_first):
    rng = np.random.default_rng(2)
    features = np.column_stack([np.ones(30), rng.standard_normal((30, 4))])
    targets = rng.standard_normal(30)
    l2 = 0.7
    penalty = np.eye(5)
    if not penalize_first:
        penalty[0, 0] = 0.0
    expected = np.linalg.solve(features.T @ features + l2 * penalty, features.T @ targets)
    np.testing.assert_allclose(classic.ridge(features, targets, l2, penalize_first),
                               expected, rtol=1e-10, atol=1e-12)


def test_ridge_with_zero_penalty_is_least_squares_and_shrinks_as_it_grows():
    rng = np.random.default_rng(3)
    features = classic.polynomial_features(rng.uniform(-1, 1, 20), 6)
    targets = rng.standard_normal(20)
    np.testing.assert_allclose(classic.ridge(features, targets, 0.0),
                               classic.least_squares(features, targets), atol=1e-9)
    norms = [np.linalg.norm(classic.ridge(features, targets, l2)[1:])
             for l2 in (1e-4, 1e-2, 1.0, 100.0)]
    assert all(a > b for a, b in itertools.pairwise(norms)), norms


def test_ridge_rejects_negative_penalty():
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        classic.ridge(np.ones((3, 2)), np.ones(3), -1.0)


def test_decomposition_on_a_hand_computed_table():
    # Two training sets, two test points. Mean prediction (2, 3); true values (1, 1).
    predictions = np.array([[1.0, 2.0], [3.0, 4.0]])
    parts = classic.bias_variance_decomposition(predictions, np.array([1.0, 1.0]), 0.25)
    assert parts.bias_squared == pytest.approx((1**2 + 2**2) / 2)       # 2.5
    assert parts.variance == pytest.approx(1.0)                            # deviations +-1
    assert parts.expected_error == pytest.approx(2.5 + 1.0 + 0.25)


def test_bias_squared_plus_variance_is_the_mean_squared_deviation():
    rng = np.random.default_rng(4)
    predictions = rng.standard_normal((50, 7)) + 3.0
    true_values = rng.standard_normal(7)
    parts = classic.bias_variance_decomposition(predictions, true_values)
    mean_squared = np.mean((predictions - true_values) ** 2)
    assert parts.bias_squared + parts.variance == pytest.approx(mean_squared, rel=1e-12)


def test_decomposition_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="bias_variance_decomposition"):
        classic.bias_variance_decomposition(np.zeros((5, 3)), np.zeros(4))


# ----- the generative classifier ----------------------------------------------------------------


def gaussian_log_density(x, mean, covariance):
    """log N(x | mean, covariance), written out independently of chalknet.classic."""
    dimension = mean.size
    _, log_det = np.linalg.slogdet(covariance)
    centred = x - mean
    mahalanobis = np.einsum("nd,nd->n", centred, np.linalg.solve(covariance, centred.T).T)
    return -0.5 * (dimension * math.log(2 * math.pi) + log_det + mahalanobis)


def three_classes(rng, counts=(60, 90, 150)):
    means = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, -1.0], [-1.0, 2.5, 1.0]])
    mixing = np.array([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.2, 0.6]])
    x = np.vstack([rng.standard_normal((n, 3)) @ mixing.T + m
                   for n, m in zip(counts, means, strict=True)])
    y = np.repeat([10, 20, 30], counts)  # labels need not be 0..K-1
    return x, y


def test_fit_estimates_priors_means_and_pooled_covariance():
    x, y = three_classes(np.random.default_rng(5))
    clf = classic.GaussianGenerativeClassifier().fit(x, y)
    np.testing.assert_array_equal(clf.classes, [10, 20, 30])
    np.testing.assert_allclose(clf.priors, np.array([60, 90, 150]) / 300)
    for k, label in enumerate(clf.classes):
        np.testing.assert_allclose(clf.means[k], x[y == label].mean(axis=0))
    # Pooled maximum-likelihood covariance: sum_k N_k * (biased class covariance) / N.
    pooled = sum(np.sum(y == label) * np.cov(x[y == label].T, bias=True)
                 for label in clf.classes) / len(y)
    np.testing.assert_allclose(clf.covariance, pooled, rtol=1e-12, atol=1e-14)


def test_posterior_matches_bayes_theorem_with_gaussian_densities():
    rng = np.random.default_rng(6)
    x, y = three_classes(rng)
    clf = classic.GaussianGenerativeClassifier().fit(x, y)
    queries = rng.standard_normal((25, 3)) * 2
    # p(C_k | x) = p(x | C_k) p(C_k) / sum_j p(x | C_j) p(C_j), computed in logs.
    log_joint = np.column_stack([gaussian_log_density(queries, clf.means[k], clf.covariance)
                                 + np.log(clf.priors[k]) for k in range(3)])
    expected = np.exp(log_joint - np.logaddexp.reduce(log_joint, axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(queries), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(queries), clf.classes[np.argmax(expected, axis=1)])


def test_binary_discriminant_is_the_sigmoid_form():
    rng = np.random.default_rng(7)
    x = np.vstack([rng.standard_normal((50, 2)),
                   rng.standard_normal((80, 2)) + np.array([2.0, 1.0])])
    y = np.repeat([0, 1], [50, 80])
    clf = classic.GaussianGenerativeClassifier().fit(x, y)
    w, b = clf.binary_discriminant()
    # Bishop eqs. 4.66-4.67, written out again here.
    precision = np.linalg.inv(clf.covariance)
    mu0, mu1 = clf.means
    np.testing.assert_allclose(w, precision @ (mu1 - mu0), rtol=1e-10)
    expected_b = (-0.5 * mu1 @ precision @ mu1 + 0.5 * mu0 @ precision @ mu0
                  + math.log(80 / 50))
    assert b == pytest.approx(expected_b, rel=1e-10)
    sigmoid = 1 / (1 + np.exp(-(x @ w + b)))
    np.testing.assert_allclose(clf.predict_proba(x)[:, 1], sigmoid, rtol=1e-10, atol=1e-14)


def test_accuracy_on_well_separated_gaussians_is_near_the_bayes_rate():
    # Means 6 standard deviations apart along the first axis: the Bayes error is
    # Phi(-3) = 0.13 %, so at least 99 % of 2,000 fresh samples must be classified correctly.
    rng = np.random.default_rng(8)

    def draw(n):
        x = rng.standard_normal((2 * n, 2))
        x[n:, 0] += 6.0
        return x, np.repeat([0, 1], n)

    clf = classic.GaussianGenerativeClassifier().fit(*draw(100))
    assert clf.score(*draw(1000)) >= 0.99


def test_generative_weights_in_a_dense_softmax_layer_give_the_same_posterior():
    layers = pytest.importorskip("chalknet.layers")
    x, y = three_classes(np.random.default_rng(9))
    clf = classic.GaussianGenerativeClassifier().fit(x, y)
    dense = layers.Dense(3, activation="softmax", dtype="float64")
    dense.maybe_build((3,))
    dense.set_weights([clf.weights, clf.bias])
    np.testing.assert_allclose(dense.forward(x), clf.predict_proba(x), rtol=1e-10, atol=1e-14)


def test_classifier_errors_are_clear():
    clf = classic.GaussianGenerativeClassifier()
    with pytest.raises(RuntimeError, match="fit"):
        clf.predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        clf.fit(np.zeros((3, 2)), np.zeros(4))
    constant_feature = np.column_stack([np.arange(6.0), np.ones(6)])
    with pytest.raises(ValueError, match=r"singular.*regularization"):
        clf.fit(constant_feature, np.repeat([0, 1], 3))
    fitted = classic.GaussianGenerativeClassifier(regularization=1e-3).fit(
        constant_feature, np.repeat([0, 1], 3))
    with pytest.raises(ValueError, match=r"\(samples, 2\), got \(4, 3\)"):
        fitted.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="exactly 2 classes"):
        classic.GaussianGenerativeClassifier().fit(*three_classes(
            np.random.default_rng(0))).binary_discriminant()
