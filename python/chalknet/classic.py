"""Classic machine learning in closed form: the course's first lessons, written to be read.

Before any network is trained by gradient descent, two models can be fitted with one line of
linear algebra, and they set up everything that follows:

- **Regression** with polynomial features, by least squares or ridge (L2-regularised) least
  squares, and the **bias / variance decomposition** of its expected error.
- **Classification** with the **probabilistic generative model**: Gaussian class-conditional
  densities sharing one covariance matrix. Its posterior turns out to be a sigmoid (softmax) of
  a *linear* function of x: the same form as logistic regression, i.e. a Dense layer with a
  sigmoid or softmax activation, but with weights computed directly from the data's means and
  covariance instead of learned step by step.

Equation numbers refer to C. M. Bishop, *Pattern Recognition and Machine Learning* (2006).
Everything here is plain NumPy in float64.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BiasVariance",
    "GaussianGenerativeClassifier",
    "bias_variance_decomposition",
    "least_squares",
    "polynomial_features",
    "ridge",
]


# ----- regression ------------------------------------------------------------------------------


def polynomial_features(x: np.ndarray, degree: int) -> np.ndarray:
    """The design matrix [1, x, x^2, ..., x^degree] of a 1-D input: shape (n, degree + 1).

    Column j holds x**j, so a weight vector w gives the polynomial y(x) = sum_j w_j x^j
    (Bishop eq. 1.1). Keep x in about [-1, 1]: the columns of high powers of large numbers
    differ by many orders of magnitude and the fit loses precision.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"polynomial_features: expected a 1-D array of inputs, got shape "
                         f"{x.shape}")
    if int(degree) != degree or degree < 0:
        raise ValueError(f"polynomial_features: degree must be an integer >= 0, got {degree!r}")
    return x[:, None] ** np.arange(int(degree) + 1)


def _check_design(name, features, targets):
    features = np.asarray(features, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"{name}: features must be 2-D (samples, features), got shape "
                         f"{features.shape}")
    if targets.shape[:1] != features.shape[:1] or targets.ndim not in (1, 2):
        raise ValueError(f"{name}: targets must have shape ({features.shape[0]},) or "
                         f"({features.shape[0]}, outputs) to match the features, got "
                         f"{targets.shape}")
    return features, targets


def least_squares(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The weights w minimising ||features @ w - targets||^2.

    In closed form w = (X^T X)^-1 X^T t, the normal equations (Bishop eq. 3.15). Forming X^T X
    squares the condition number of X, so the solution is computed with an orthogonal
    factorisation instead (``np.linalg.lstsq``, via the SVD), which gives the same w whenever
    X^T X is invertible and the minimum-norm w when it is not.
    """
    features, targets = _check_design("least_squares", features, targets)
    weights, *_ = np.linalg.lstsq(features, targets, rcond=None)
    return weights


def ridge(features: np.ndarray, targets: np.ndarray, l2: float,
          penalize_first: bool = False) -> np.ndarray:
    """The weights w minimising ||features @ w - targets||^2 + l2 * ||w||^2.

    In closed form w = (X^T X + l2 I)^-1 X^T t (Bishop eq. 3.28). The first column of a design
    matrix from ``polynomial_features`` is the constant 1, whose weight (the bias) is by
    convention not penalised: with ``penalize_first=False`` the first diagonal entry of I is 0.

    Computed as ordinary least squares on an augmented system, which has the same minimiser and
    avoids squaring the condition number:

        || [X; sqrt(l2) P] w - [t; 0] ||^2 = ||X w - t||^2 + l2 ||P w||^2,

    P being the identity (without its first row when the bias is not penalised).
    """
    features, targets = _check_design("ridge", features, targets)
    if not l2 >= 0:
        raise ValueError(f"ridge: l2 must be >= 0, got {l2!r}")
    penalty = np.sqrt(l2) * np.eye(features.shape[1])
    if not penalize_first:
        penalty = penalty[1:]
    zeros = np.zeros((penalty.shape[0], *targets.shape[1:]))
    weights, *_ = np.linalg.lstsq(np.vstack([features, penalty]),
                                  np.concatenate([targets, zeros]), rcond=None)
    return weights


class BiasVariance:
    """The parts of the expected squared error of a model at a set of test inputs.

    Attributes (each averaged over the test inputs):
        bias_squared: (mean prediction - true value)^2
        variance: spread of the predictions around their mean, over training sets
        noise: variance of the targets around the true function (the irreducible error)
        expected_error: bias_squared + variance + noise
    """

    def __init__(self, bias_squared: float, variance: float, noise: float):
        self.bias_squared = float(bias_squared)
        self.variance = float(variance)
        self.noise = float(noise)

    @property
    def expected_error(self) -> float:
        return self.bias_squared + self.variance + self.noise

    def as_dict(self) -> dict:
        return {"bias_squared": self.bias_squared, "variance": self.variance,
                "noise": self.noise, "expected_error": self.expected_error}

    def __repr__(self) -> str:
        return (f"BiasVariance(bias_squared={self.bias_squared:.4g}, "
                f"variance={self.variance:.4g}, noise={self.noise:.4g})")


def bias_variance_decomposition(predictions: np.ndarray, true_values: np.ndarray,
                                noise_variance: float = 0.0) -> BiasVariance:
    """Split the expected squared error of a model into bias^2 + variance + noise.

    predictions: shape (training sets, test points): the prediction y(x; D) at each test point
        x of the model fitted to each resampled training set D.
    true_values: shape (test points,): the noise-free h(x) at the same points.
    noise_variance: the variance of the noise in the targets, sigma^2.

    For a target t = h(x) + noise, the squared error averaged over training sets D and noise is

        E[(y(x; D) - t)^2] = (E_D[y(x; D)] - h(x))^2        bias^2
                           + E_D[(y(x; D) - E_D[y(x; D)])^2]  variance
                           + sigma^2                         noise

    (Bishop eqs. 3.40-3.41, with the noise term of eq. 3.37). Each part is averaged over the
    test points (eqs. 3.46-3.47).
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    true_values = np.asarray(true_values, dtype=np.float64)
    if predictions.ndim != 2 or predictions.shape[1:] != true_values.shape:
        raise ValueError(f"bias_variance_decomposition: predictions must have shape (training "
                         f"sets, {true_values.shape[0] if true_values.ndim == 1 else '?'}) "
                         f"matching true_values {true_values.shape}, got {predictions.shape}")
    mean_prediction = predictions.mean(axis=0)
    bias_squared = np.mean((mean_prediction - true_values) ** 2)
    variance = np.mean(np.mean((predictions - mean_prediction) ** 2, axis=0))
    return BiasVariance(bias_squared, variance, noise_variance)


# ----- classification --------------------------------------------------------------------------


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)  # same result, no overflow in exp
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class GaussianGenerativeClassifier:
    """The probabilistic generative classifier with a shared covariance (Bishop Section 4.2).

    Model: each class k has a prior p(C_k) = pi_k and a Gaussian class-conditional density
    p(x | C_k) = N(x | mu_k, Sigma), all classes sharing one covariance Sigma.

    Fit (maximum likelihood, closed form, Bishop eqs. 4.73-4.80):
        pi_k  = N_k / N                                  the fraction of samples in class k
        mu_k  = (1 / N_k) sum_{n in k} x_n               the class means
        Sigma = sum_k (N_k / N) S_k,  S_k = (1 / N_k) sum_{n in k} (x_n - mu_k)(x_n - mu_k)^T

    Posterior: by Bayes' theorem p(C_k | x) = softmax_k(a_k) with a_k = ln p(x | C_k) + ln pi_k.
    The quadratic term -1/2 x^T Sigma^-1 x is the same for every class (the covariance is
    shared), so it cancels in the softmax and what remains is *linear* in x (eqs. 4.68-4.70):

        a_k(x) = w_k^T x + b_k,   w_k = Sigma^-1 mu_k,   b_k = -1/2 mu_k^T Sigma^-1 mu_k + ln pi_k

    With two classes the softmax of (a_0, a_1) is the sigmoid of a_1 - a_0 (eqs. 4.65-4.67):
    p(C_1 | x) = sigmoid(w^T x + b), w = Sigma^-1 (mu_1 - mu_0),
    b = -1/2 mu_1^T Sigma^-1 mu_1 + 1/2 mu_0^T Sigma^-1 mu_0 + ln(pi_1 / pi_0).

    That is exactly the form of logistic regression, a Dense layer with a softmax (or sigmoid)
    output: ``weights`` has Dense's kernel layout (features, classes) and ``bias`` (classes,),
    so ``Dense(classes, activation="softmax").set_weights([clf.weights, clf.bias])`` computes the
    same probabilities. The difference is how the weights are found: here in closed form from
    the class statistics, there by gradient descent on the cross-entropy.

    Attributes after ``fit``: ``classes`` (the labels, sorted), ``priors`` (K,), ``means``
    (K, D), ``covariance`` (D, D), ``weights`` (D, K), ``bias`` (K,).
    """

    def __init__(self, regularization: float = 0.0):
        """regularization: added to the diagonal of Sigma before it is inverted (0 = none);
        needed only when a feature is constant or the features are linearly dependent."""
        if not regularization >= 0:
            raise ValueError(f"GaussianGenerativeClassifier: regularization must be >= 0, got "
                             f"{regularization!r}")
        self.regularization = float(regularization)
        self.classes = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> GaussianGenerativeClassifier:
        """Estimate priors, means and the shared covariance; then the linear discriminant.

        x: (samples, features); y: (samples,) class labels (any sortable values, e.g. 0/1).
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        if x.ndim != 2:
            raise ValueError(f"GaussianGenerativeClassifier.fit: x must be 2-D (samples, "
                             f"features), got shape {x.shape}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"GaussianGenerativeClassifier.fit: y must have shape "
                             f"({x.shape[0]},) (one label per sample), got {y.shape}")
        self.classes = np.unique(y)
        if self.classes.size < 2:
            raise ValueError("GaussianGenerativeClassifier.fit: need samples of at least 2 "
                             f"classes, got only {self.classes.tolist()}")
        samples, features = x.shape
        self.priors = np.empty(self.classes.size)
        self.means = np.empty((self.classes.size, features))
        self.covariance = np.zeros((features, features))
        for k, label in enumerate(self.classes):
            members = x[y == label]
            self.priors[k] = members.shape[0] / samples                     # eq. 4.73
            self.means[k] = members.mean(axis=0)                            # eq. 4.75
            centred = members - self.means[k]
            self.covariance += centred.T @ centred / samples                # eqs. 4.78-4.80
        self.covariance += self.regularization * np.eye(features)
        self._linear_discriminant()
        return self

    def _linear_discriminant(self) -> None:
        """w_k = Sigma^-1 mu_k and b_k = -1/2 mu_k^T Sigma^-1 mu_k + ln pi_k (eqs. 4.69-4.70)."""
        try:
            precision_times_means = np.linalg.solve(self.covariance, self.means.T)  # (D, K)
        except np.linalg.LinAlgError:
            raise ValueError(
                "GaussianGenerativeClassifier: the shared covariance is singular (a constant "
                "or duplicated feature?); pass regularization > 0"
            ) from None
        self.weights = precision_times_means
        self.bias = -0.5 * np.sum(self.means.T * precision_times_means, axis=0) + np.log(
            self.priors)

    def _check_fitted(self, x):
        if self.classes is None:
            raise RuntimeError("GaussianGenerativeClassifier: call fit(x, y) first")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.means.shape[1]:
            raise ValueError(f"GaussianGenerativeClassifier: expected x of shape (samples, "
                             f"{self.means.shape[1]}), got {x.shape}")
        return x

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """The activations a_k(x) = w_k^T x + b_k, shape (samples, classes)."""
        return self._check_fitted(x) @ self.weights + self.bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Posterior probabilities p(C_k | x) = softmax(a(x)), shape (samples, classes)."""
        return _softmax(self.decision_function(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class label of each sample."""
        return self.classes[np.argmax(self.decision_function(x), axis=1)]

    def binary_discriminant(self) -> tuple[np.ndarray, float]:
        """For two classes, (w, b) with p(classes[1] | x) = sigmoid(w^T x + b) (eqs. 4.66-4.67);
        w^T x + b = 0 is the decision boundary."""
        if self.classes is None or self.classes.size != 2:
            raise ValueError("binary_discriminant: needs a classifier fitted to exactly 2 classes")
        return self.weights[:, 1] - self.weights[:, 0], float(self.bias[1] - self.bias[0])

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy: the fraction of samples whose predicted label equals y."""
        return float(np.mean(self.predict(x) == np.asarray(y)))
