"""Chapter 1 — Regression, bias and variance.

One true function h(x), many training sets drawn from it (the same 15 inputs, fresh noise each
time), and polynomials of rising degree fitted to each set by least squares. Averaging over the
training sets splits the expected error at new inputs into three parts
(``chalknet.classic.bias_variance_decomposition``):

- bias^2: how far the *average* fit is from h — large for models too simple to follow h;
- variance: how much the fit changes from one training set to the next — large for flexible
  models that follow the noise;
- noise: the variance of the targets around h, which no model can remove.

Then the most flexible polynomial is kept and an L2 penalty lambda * ||w||^2 is added (ridge
regression, ``chalknet.classic.ridge``): raising lambda trades variance for bias.

Finally the closed form meets the network: a chalknet ``Dense(1)`` on the polynomial features
with ``kernel_regularizer=L2(lambda / N)``, trained by gradient descent on the mean squared
error, converges to exactly the ridge weights (the two objectives differ only by the factor N).

Run it: ``python -m chalknet demo bias_variance --out DIR`` or
``python examples/bias_variance.py --out DIR``.
"""

from __future__ import annotations

import numpy as np

from .. import classic
from ._common import Pictures, one_thread, say

NAME = "bias_variance"
NUMBER = 1
TITLE = "Regression: bias and variance of polynomial fits, L2 (ridge) regularisation"

NOISE_STD = 0.3
TRAINING_POINTS = 15
DEGREES = tuple(range(12))
RIDGE_DEGREE = 10
L2_VALUES = tuple(10.0 ** np.arange(-6, 3))


def true_function(x):
    """The h(x) every training set is drawn from (no symmetry, so every degree helps)."""
    return np.sin(2.5 * x + 0.5) + 0.3 * x


def draw_training_sets(x, count, rng):
    """``count`` noisy target vectors t = h(x) + noise, one row per training set."""
    return true_function(x) + NOISE_STD * rng.standard_normal((count, x.size))


def fit_and_predict(x_train, targets, x_test, degree, l2=0.0):
    """Fit a polynomial of ``degree`` to each row of ``targets``; predict at ``x_test``.

    Returns (training sets, test points). ``l2`` = 0 is plain least squares, else ridge.
    """
    features = classic.polynomial_features(x_train, degree)
    # Both solvers accept a matrix of targets (one column per training set): one solve for all.
    if l2 == 0:
        weights = classic.least_squares(features, targets.T)
    else:
        weights = classic.ridge(features, targets.T, l2)
    return (classic.polynomial_features(x_test, degree) @ weights).T


def ridge_by_gradient_descent(x, targets, degree, l2, epochs=3000):
    """The ridge fit the network way: Dense(1) on the features x, x^2, ..., x^degree (its bias
    plays the constant column, unpenalised), loss "mse", full-batch SGD with momentum.

    ridge minimises ||X w - t||^2 + l2 ||w||^2; dividing by N gives mean squared error plus
    (l2 / N) ||w||^2, which is the loss plus what ``regularizers.L2(l2 / N)`` adds.
    Returns [bias, w_1, ..., w_degree], the layout of ``classic.ridge``'s weights.
    """
    from .. import optimizers, regularizers
    from ..layers import Dense
    from ..models import Input, Sequential

    features = classic.polynomial_features(x, degree)[:, 1:]
    model = Sequential([Input(shape=(degree,), dtype="float64"),
                        Dense(1, dtype="float64",
                              kernel_regularizer=regularizers.L2(l2 / x.size))])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5, momentum=0.9), loss="mse")
    model.fit(features, targets[:, None], batch_size=x.size, epochs=epochs, verbose=0,
              shuffle=False)
    kernel, bias = model.get_weights()
    return np.concatenate([bias, kernel[:, 0]])


def measured_test_error(predictions, x_test, rng):
    """Mean squared error against fresh noisy targets at the test inputs (one set per fit):
    the quantity the decomposition predicts."""
    fresh_targets = draw_training_sets(x_test, predictions.shape[0], rng)
    return float(np.mean((predictions - fresh_targets) ** 2))


def sweep(x_train, x_test, training_sets, rng, degrees=(), l2_values=(), degree=None):
    """Decompose the error for each degree (least squares) or each l2 (ridge at ``degree``)."""
    settings = [(d, 0.0) for d in degrees] + [(degree, l2) for l2 in l2_values]
    rows = []
    for d, l2 in settings:
        predictions = fit_and_predict(x_train, training_sets, x_test, d, l2)
        parts = classic.bias_variance_decomposition(predictions, true_function(x_test),
                                                    NOISE_STD**2)
        rows.append((parts, measured_test_error(predictions, x_test, rng), predictions))
    return rows


def draw_fits(pictures, x_train, training_sets, x_test, panels, title_of, filename):
    """One panel per (degree, l2): 20 fits in grey, their mean, and the true function."""
    figure, axes = pictures.new(columns=len(panels), width=4.2, height=3.6)
    if figure is None:
        return
    for ax, (degree, l2) in zip(np.atleast_1d(axes), panels, strict=True):
        predictions = fit_and_predict(x_train, training_sets, x_test, degree, l2)
        for row in predictions[:20]:
            ax.plot(x_test, row, color="0.75", linewidth=0.8)
        ax.plot(x_test, predictions.mean(axis=0), color="tab:red", label="mean of the fits")
        ax.plot(x_test, true_function(x_test), "k--", label="true h(x)")
        ax.plot(x_train, training_sets[0], "o", color="tab:blue", markersize=4,
                label="one training set")
        ax.set_ylim(-2.0, 2.0)
        ax.set_title(title_of(degree, l2))
        ax.set_xlabel("x")
    np.atleast_1d(axes)[0].legend(loc="lower right", fontsize=8)
    pictures.save(figure, filename)


def draw_decomposition(pictures, x_values, rows, xlabel, title, filename, log_x=False):
    figure, ax = pictures.new(width=6.0, height=4.2)
    if figure is None:
        return
    ax.plot(x_values, [p.bias_squared for p, _, _ in rows], "o-", label="bias$^2$")
    ax.plot(x_values, [p.variance for p, _, _ in rows], "s-", label="variance")
    ax.plot(x_values, [p.expected_error for p, _, _ in rows], "k-",
            label="bias$^2$ + variance + noise")
    ax.plot(x_values, [error for _, error, _ in rows], "kx", markersize=8,
            label="measured test error")
    ax.axhline(NOISE_STD**2, color="0.5", linestyle=":", label="noise $\\sigma^2$")
    ax.set_yscale("log")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("squared error (average over x)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    pictures.save(figure, filename)


def run(output_dir, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter: print what to notice, write the pictures, return the numbers.

    quick: fewer training sets (for tests; same lesson, noisier estimates).
    Returns a dict of lists indexed like ``degrees`` and ``l2_values``.
    """
    rng = np.random.default_rng(seed)
    pictures = Pictures(output_dir, NAME)
    count = 60 if quick else 1000
    x_train = np.linspace(-1.0, 1.0, TRAINING_POINTS)
    x_test = np.linspace(-1.0, 1.0, 201)
    training_sets = draw_training_sets(x_train, count, rng)
    say(NAME, f"{count} training sets of {TRAINING_POINTS} points from h(x) = sin(2.5x + 0.5) "
              f"+ 0.3x plus noise of std {NOISE_STD}.")

    by_degree = sweep(x_train, x_test, training_sets, rng, degrees=DEGREES)
    by_l2 = sweep(x_train, x_test, training_sets, rng, l2_values=L2_VALUES, degree=RIDGE_DEGREE)

    print(f"[{NAME}] degree   bias^2    variance  bias^2+var+noise  measured test error")
    for degree, (parts, error, _) in zip(DEGREES, by_degree, strict=True):
        print(f"[{NAME}] {degree:6d}  {parts.bias_squared:8.2e}  {parts.variance:8.2e}  "
              f"{parts.expected_error:16.4f}  {error:19.4f}")
    best = DEGREES[int(np.argmin([p.expected_error for p, _, _ in by_degree]))]
    print(f"[{NAME}] ridge, degree {RIDGE_DEGREE}:\n[{NAME}]   lambda   bias^2    variance  "
          f"bias^2+var+noise")
    for l2, (parts, _, _) in zip(L2_VALUES, by_l2, strict=True):
        print(f"[{NAME}] {l2:8.0e}  {parts.bias_squared:8.2e}  {parts.variance:8.2e}  "
              f"{parts.expected_error:16.4f}")
    best_l2 = float(L2_VALUES[int(np.argmin([p.expected_error for p, _, _ in by_l2]))])
    say(NAME, f"""
Notice: bias^2 falls as the degree rises (the average fit follows h more closely) while the
variance rises (each fit follows its own noise more closely); their sum is smallest at degree
{best}, not at the most flexible model. The measured test error matches bias^2 + variance +
noise, and never goes below the noise sigma^2 = {NOISE_STD**2:.2f}. (Once the bias^2 is tiny its
estimate stops falling: the mean of {count} fits still carries variance / {count} of noise.)
With ridge regression on the degree-{RIDGE_DEGREE} polynomial, a larger lambda lowers the
variance and raises the bias^2; the best trade-off here is lambda = {best_l2:g}.""")

    closed_form = classic.ridge(classic.polynomial_features(x_train, 5), training_sets[0], 1e-2)
    with one_thread():
        trained = ridge_by_gradient_descent(x_train, training_sets[0], 5, 1e-2)
    ridge_difference = float(np.max(np.abs(trained - closed_form)))
    say(NAME, f"""
The same ridge fit (degree 5, lambda = 0.01, one training set) by chalknet: Dense(1) with
kernel_regularizer=L2(lambda / {TRAINING_POINTS}), 3000 full-batch steps of SGD with momentum.
  closed form: {np.round(closed_form, 4)}
  trained:     {np.round(trained, 4)}   (max difference {ridge_difference:.1e})""")

    draw_fits(pictures, x_train, training_sets, x_test, [(1, 0.0), (3, 0.0), (10, 0.0)],
              lambda d, _: f"degree {d}", "fits_by_degree.png")
    draw_decomposition(pictures, DEGREES, by_degree, "polynomial degree",
                       f"Least squares, {TRAINING_POINTS} points per training set",
                       "bias_variance_by_degree.png")
    draw_fits(pictures, x_train, training_sets, x_test,
              [(RIDGE_DEGREE, 1e-6), (RIDGE_DEGREE, 1e-2), (RIDGE_DEGREE, 10.0)],
              lambda d, l2: f"degree {d}, lambda = {l2:g}", "fits_by_lambda.png")
    draw_decomposition(pictures, L2_VALUES, by_l2, "L2 penalty lambda",
                       f"Ridge regression, degree {RIDGE_DEGREE}", "bias_variance_by_lambda.png",
                       log_x=True)

    return {
        "training_sets": count,
        "noise": NOISE_STD**2,
        "degrees": list(DEGREES),
        "bias_squared": [p.bias_squared for p, _, _ in by_degree],
        "variance": [p.variance for p, _, _ in by_degree],
        "expected_error": [p.expected_error for p, _, _ in by_degree],
        "test_error": [error for _, error, _ in by_degree],
        "best_degree": best,
        "ridge_degree": RIDGE_DEGREE,
        "l2_values": list(L2_VALUES),
        "ridge_bias_squared": [p.bias_squared for p, _, _ in by_l2],
        "ridge_variance": [p.variance for p, _, _ in by_l2],
        "ridge_expected_error": [p.expected_error for p, _, _ in by_l2],
        "best_l2": best_l2,
        "ridge_closed_form_vs_trained_max_difference": ridge_difference,
        "pictures": pictures.written,
    }
