"""Chapter 3 — Classification.

Three lessons on two classes of points in the plane:

1. **Two ways to the same linear boundary.** The probabilistic generative model
   (``chalknet.classic.GaussianGenerativeClassifier``: Gaussian classes sharing a covariance,
   fitted in closed form from priors, means and covariance) gives p(C_1 | x) = sigmoid(w.x + b).
   Logistic regression has exactly that form — a ``Dense(1, activation="sigmoid")`` layer — but
   learns w and b by gradient descent on the cross-entropy. On Gaussian data the two boundaries
   nearly coincide; the generative weights can even be loaded into the Dense layer.
2. **Regression is the wrong tool.** Least squares on 0/1 labels also gives a linear boundary,
   but it penalises points for being "too correct": a cluster of far-away, correctly labelled
   points drags the boundary and misclassifies points that were fine. Logistic regression
   barely moves (the generative model, whose Gaussian assumption the cluster breaks, moves too).
3. **MSE vs cross-entropy with a sigmoid output.** Over the two parameters of
   p = sigmoid(w x + b), the mean squared error has wide flat plateaus where the sigmoid
   saturates on the wrong side — gradient descent starting there barely moves — while the
   cross-entropy keeps a slope that grows with the mistake.

Run it: ``python -m chalknet demo classification --out DIR``.
"""

from __future__ import annotations

import numpy as np

from .. import classic
from ._common import Pictures, one_thread, say

NAME = "classification"
NUMBER = 3
TITLE = ("Classification: generative model vs logistic regression; not least squares; "
         "MSE vs cross-entropy")

SHARED_COVARIANCE = np.array([[1.0, 0.6], [0.6, 0.8]])
CLASS_MEANS = np.array([[-1.2, 0.4], [1.2, -0.4]])
OUTLIER_CENTRE = np.array([7.0, -5.0])
FLAT = 0.05  # "flat": a gradient norm below 5 % of the steepest on the grid


# ----- data --------------------------------------------------------------------------------------


def two_gaussian_classes(rng, per_class):
    """Points of class 0 and 1 from Gaussians with the means above and one shared covariance."""
    cholesky = np.linalg.cholesky(SHARED_COVARIANCE)
    x = np.vstack([rng.standard_normal((per_class, 2)) @ cholesky.T + mean
                   for mean in CLASS_MEANS])
    y = np.repeat([0.0, 1.0], per_class)
    return x, y


def outlier_cluster(rng, count):
    """A tight cluster of class-1 points far on class 1's side of the boundary: easy points."""
    return rng.standard_normal((count, 2)) * 0.5 + OUTLIER_CENTRE, np.ones(count)


# ----- the three classifiers, each reduced to a line w.x + b = 0 ---------------------------------


def generative_line(x, y):
    """The Gaussian generative classifier's boundary: (w, b) of p(C_1|x) = sigmoid(w.x + b)."""
    return classic.GaussianGenerativeClassifier().fit(x, y).binary_discriminant()


def logistic_regression(x, y, epochs, learning_rate=0.5, seed=0):
    """Logistic regression the chalknet way: one Dense unit with a sigmoid, binary
    cross-entropy, full-batch gradient descent (each epoch is one step on all the data)."""
    from .. import optimizers
    from ..layers import Dense
    from ..models import Input, Sequential
    from ..utils import set_random_seed

    set_random_seed(seed)
    model = Sequential([Input(shape=(x.shape[1],)), Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(learning_rate=learning_rate),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y[:, None], batch_size=len(x), epochs=epochs, verbose=0, shuffle=False)
    return model


def logistic_line(model):
    kernel, bias = model.get_weights()
    return kernel[:, 0].astype(np.float64), float(bias[0])


def least_squares_line(x, y):
    """Regression on the labels: fit t ~ v.x + c by least squares, call class 1 where the fit
    exceeds 1/2. The boundary v.x + c = 1/2 is returned as (w, b) = (v, c - 1/2)."""
    design = np.column_stack([np.ones(len(x)), x])
    weights = classic.least_squares(design, y)
    return weights[1:], float(weights[0] - 0.5)


def accuracy(line, x, y):
    w, b = line
    return float(np.mean((x @ w + b > 0) == (y == 1)))


def angle_between(u, v):
    """The angle, in degrees, between two boundary normals."""
    cosine = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def dense_layer_with(w, b):
    """A Dense(1, sigmoid) layer (float64) holding given weights: the generative model's
    posterior computed by the layer logistic regression trains."""
    from ..layers import Dense

    layer = Dense(1, activation="sigmoid", dtype="float64")
    layer.maybe_build((w.shape[0],))
    layer.set_weights([w[:, None], np.array([b])])
    return layer


# ----- loss surfaces of a sigmoid unit ------------------------------------------------------------


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


def sigmoid_loss_surfaces(x, y, w_values, b_values):
    """MSE and cross-entropy of p = sigmoid(w x + b) on 1-D data, on a grid of (w, b).

    Returns a dict of arrays shaped (len(b_values), len(w_values)): "mse", "cross_entropy" and
    the norms of their gradients. With z = w x + b and the chain rule dL/dw = mean(dL/dz * x),
    dL/db = mean(dL/dz), where for one sample
        MSE:            L = (p - y)^2,                      dL/dz = 2 (p - y) p (1 - p)
        cross-entropy:  L = -y ln p - (1 - y) ln(1 - p),    dL/dz = p - y
    The factor p (1 - p) is what flattens the MSE: it vanishes when the sigmoid saturates,
    whether the answer is right or wrong.
    """
    w, b = np.meshgrid(w_values, b_values)
    z = w[..., None] * x + b[..., None]                         # (b, w, samples)
    p = sigmoid(z)
    # ln p = -softplus(-z) and ln(1 - p) = -softplus(z), computed without log(0).
    cross_entropy = np.mean(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z), axis=-1)
    mse = np.mean((p - y) ** 2, axis=-1)
    surfaces = {"mse": mse, "cross_entropy": cross_entropy}
    for name, dz in (("mse", 2 * (p - y) * p * (1 - p)), ("cross_entropy", p - y)):
        d_w, d_b = np.mean(dz * x, axis=-1), np.mean(dz, axis=-1)
        surfaces[f"{name}_gradient_norm"] = np.hypot(d_w, d_b)
    return surfaces


def descend_from(start, x, y, loss, steps, learning_rate=1.0):
    """Full-batch gradient descent on a chalknet Dense(1, sigmoid) unit from (w, b) = start,
    with ``loss`` ("mse" or "binary_crossentropy"). Returns the path [(w, b), ...] and the
    accuracy at the end."""
    from .. import optimizers
    from ..layers import Dense
    from ..models import Input, Sequential

    model = Sequential([Input(shape=(1,)), Dense(1, activation="sigmoid", dtype="float64")])
    model.set_weights([np.array([[start[0]]]), np.array([start[1]])])
    model.compile(optimizer=optimizers.SGD(learning_rate=learning_rate), loss=loss)
    path = [tuple(start)]
    for _ in range(steps):
        model.train_on_batch(x[:, None], y[:, None])
        kernel, bias = model.get_weights()
        path.append((float(kernel[0, 0]), float(bias[0])))
    final_accuracy = float(np.mean((model.predict(x[:, None], verbose=0)[:, 0] > 0.5) == y))
    return path, final_accuracy


def plateau_mask(loss, gradient_norm):
    """Where the surface is high *and* flat: loss above the midpoint between its minimum and
    maximum, gradient norm below 5 % of its largest value on the grid."""
    high = loss > 0.5 * (loss.min() + loss.max())
    flat = gradient_norm < FLAT * gradient_norm.max()
    return high & flat


def plateau_fraction(loss, gradient_norm):
    """The fraction of the grid that ``plateau_mask`` marks."""
    return float(np.mean(plateau_mask(loss, gradient_norm)))


# ----- pictures ---------------------------------------------------------------------------------


def draw_line(ax, line, style, label, limits):
    w, b = line
    xs = np.array(limits)
    ax.plot(xs, -(w[0] * xs + b) / w[1], style, label=label)


def draw_points(ax, x, y):
    ax.scatter(*x[y == 0].T, s=10, color="tab:blue", label="class 0")
    ax.scatter(*x[y == 1].T, s=10, color="tab:orange", label="class 1")


def draw_boundaries(pictures, x, y, generative, logistic, classifier):
    figure, ax = pictures.new(width=6.0, height=5.0)
    if figure is None:
        return
    grid = np.linspace(-5, 5, 200)
    gx, gy = np.meshgrid(grid, grid)
    posterior = classifier.predict_proba(np.column_stack([gx.ravel(), gy.ravel()]))[:, 1]
    shading = ax.contourf(gx, gy, posterior.reshape(gx.shape), levels=20, cmap="RdBu_r",
                          alpha=0.35)
    figure.colorbar(shading, ax=ax, label="generative p(class 1 | x)")
    draw_points(ax, x, y)
    draw_line(ax, generative, "k-", "generative (closed form)", (-5, 5))
    draw_line(ax, logistic, "g--", "logistic regression (gradient descent)", (-5, 5))
    ax.set_xlim(-5, 5)
    ax.set_ylim(-5, 5)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Two routes to one linear boundary")
    pictures.save(figure, "generative_vs_logistic.png")


def draw_outlier_lesson(pictures, panels):
    figure, axes = pictures.new(columns=2, width=5.5, height=5.0)
    if figure is None:
        return
    for ax, (title, x, y, lines) in zip(axes, panels, strict=True):
        draw_points(ax, x, y)
        for (_, label, style), line in lines.items():
            draw_line(ax, line, style, label, (-5, 9))
        ax.set_xlim(-5, 9)
        ax.set_ylim(-7, 5)
        ax.set_title(title)
    axes[1].legend(fontsize=8, loc="upper right")
    pictures.save(figure, "least_squares_vs_logistic.png")


def draw_surfaces(pictures, w_values, b_values, surfaces, paths):
    figure, axes = pictures.new(columns=2, width=5.2, height=4.4)
    if figure is None:
        return
    for ax, name, title in ((axes[0], "mse", "mean squared error"),
                            (axes[1], "cross_entropy", "cross-entropy")):
        filled = ax.contourf(w_values, b_values, surfaces[name], levels=30, cmap="viridis")
        figure.colorbar(filled, ax=ax)
        plateau = plateau_mask(surfaces[name], surfaces[f"{name}_gradient_norm"])
        ax.contourf(w_values, b_values, plateau.astype(float), levels=[0.5, 1.5], colors="none",
                    hatches=["//"])
        ax.plot(*paths[name][0], "r*", markersize=12)
        ax.set_xlabel("w")
        ax.set_ylabel("b")
        ax.plot(*np.array(paths[name]).T, "r.-", markersize=3, linewidth=1,
                label=f"{len(paths[name]) - 1} steps of gradient descent")
        ax.legend(fontsize=8, loc="lower left")
        ax.set_title(f"{title} of sigmoid(w x + b)\n(hatched: high, and gradient < "
                     f"{100 * FLAT:.0f} % of its max)")
    pictures.save(figure, "mse_vs_cross_entropy_surfaces.png")


# ----- the chapter ------------------------------------------------------------------------------


def run(output_dir, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter: print what to notice, write the pictures, return the numbers."""
    rng = np.random.default_rng(seed)
    pictures = Pictures(output_dir, NAME)
    epochs = 150 if quick else 400
    with one_thread():
        return _run(rng, pictures, epochs, seed)


def _run(rng, pictures, epochs, seed):
    results = {}
    # 1. generative model vs logistic regression on Gaussian classes.
    x, y = two_gaussian_classes(rng, 200)
    classifier = classic.GaussianGenerativeClassifier().fit(x, y)
    generative = classifier.binary_discriminant()
    logistic = logistic_line(logistic_regression(x, y, epochs, seed=seed))
    as_dense = dense_layer_with(*generative).forward(x)[:, 0]
    results.update(
        generative_accuracy=accuracy(generative, x, y),
        logistic_accuracy=accuracy(logistic, x, y),
        boundary_angle_degrees=angle_between(generative[0], logistic[0]),
        generative_line=(generative[0].tolist(), generative[1]),
        logistic_line=(logistic[0].tolist(), logistic[1]),
        dense_vs_generative_max_difference=float(
            np.max(np.abs(as_dense - classifier.predict_proba(x)[:, 1]))),
    )
    r = results
    say(NAME, "Gaussian classes, 200 points each, shared covariance.")
    for label, (w, b), key in (("generative model (closed form)", generative, "generative"),
                               (f"logistic regression ({epochs} GD steps)", logistic,
                                "logistic")):
        say(NAME, f"  {label:<36} w = {np.round(w, 2)}, b = {b:.2f}, training accuracy "
                  f"{r[key + '_accuracy']:.3f}")
    say(NAME, f"""
  The two boundaries differ in direction by {r['boundary_angle_degrees']:.1f} degrees.
  Loaded into Dense(1, activation="sigmoid"), the generative w, b give the same posterior
  (max difference {r['dense_vs_generative_max_difference']:.1e}): one model, two ways to fit it.""")
    draw_boundaries(pictures, x, y, generative, logistic, classifier)

    # 2. least squares on 0/1 labels vs logistic regression, with and without far-away points.
    far_x, far_y = outlier_cluster(rng, 40)
    x_far, y_far = np.vstack([x, far_x]), np.concatenate([y, far_y])
    panels = []
    for tag, (fit_x, fit_y) in (("clean", (x, y)), ("outliers", (x_far, y_far))):
        lines = {("least_squares", "least squares on 0/1 labels", "r-"):
                     least_squares_line(fit_x, fit_y),
                 ("generative", "generative", "k:"): generative_line(fit_x, fit_y),
                 ("logistic", "logistic regression", "g--"): logistic_line(
                     logistic_regression(fit_x, fit_y, epochs, seed=seed))}
        results[f"least_squares_vs_generative_angle_degrees_{tag}"] = angle_between(
            lines["least_squares", "least squares on 0/1 labels", "r-"][0],
            lines["generative", "generative", "k:"][0])
        for (key, _, _), line in lines.items():
            results[f"{key}_accuracy_{tag}"] = accuracy(line, x, y)  # always on the 400 points
        title = "fitted to the two classes" if tag == "clean" else \
            "plus 40 easy class-1 points far away"
        panels.append((title, fit_x, fit_y, lines))
    say(NAME, f"""
Accuracy on the 400 original points, fitted without / with 40 far-away (correctly labelled)
class-1 points:
  least squares on 0/1 labels: {r['least_squares_accuracy_clean']:.3f} -> \
{r['least_squares_accuracy_outliers']:.3f}
  generative (Gaussian) model: {r['generative_accuracy_clean']:.3f} -> \
{r['generative_accuracy_outliers']:.3f}
  logistic regression:         {r['logistic_accuracy_clean']:.3f} -> \
{r['logistic_accuracy_outliers']:.3f}
Notice: least squares wants its output to be exactly 1 for class 1, so points that are "too
correct" pull the line towards them; the cross-entropy hardly charges them anything. (Least
squares and the Gaussian model share one boundary direction here, \
{r['least_squares_vs_generative_angle_degrees_outliers']:.1e} degrees
apart: for two classes both give Fisher's direction Sigma^-1 (mu_1 - mu_0), Bishop 4.1.5.)""")
    draw_outlier_lesson(pictures, panels)

    # 3. loss surfaces of a sigmoid unit.
    x1 = np.concatenate([rng.normal(-1.0, 0.6, 50), rng.normal(1.0, 0.6, 50)])
    y1 = np.repeat([0.0, 1.0], 50)
    w_values = b_values = np.linspace(-8, 8, 121)
    surfaces = sigmoid_loss_surfaces(x1, y1, w_values, b_values)
    wrong_start = (-6.0, 0.0)  # confidently wrong: class 1 gets p near 0 and class 0 near 1
    at_start = sigmoid_loss_surfaces(x1, y1, np.array([wrong_start[0]]),
                                     np.array([wrong_start[1]]))
    paths, final_accuracy = {}, {}
    for name, loss in (("mse", "mse"), ("cross_entropy", "binary_crossentropy")):
        paths[name], final_accuracy[name] = descend_from(wrong_start, x1, y1, loss, steps=60)
    results.update(
        mse_plateau_fraction=plateau_fraction(surfaces["mse"], surfaces["mse_gradient_norm"]),
        cross_entropy_plateau_fraction=plateau_fraction(
            surfaces["cross_entropy"], surfaces["cross_entropy_gradient_norm"]),
        mse_gradient_at_wrong_start=float(at_start["mse_gradient_norm"][0, 0]),
        cross_entropy_gradient_at_wrong_start=float(
            at_start["cross_entropy_gradient_norm"][0, 0]),
        mse_accuracy_after_descent=final_accuracy["mse"],
        cross_entropy_accuracy_after_descent=final_accuracy["cross_entropy"],
    )
    say(NAME, f"""
Loss surfaces of p = sigmoid(w x + b) over (w, b) in [-8, 8]^2 (1-D data, two classes):
  high-and-flat plateau: {100 * r['mse_plateau_fraction']:.0f} % of the grid for MSE, \
{100 * r['cross_entropy_plateau_fraction']:.0f} % for cross-entropy
  gradient norm at the confidently wrong start (w, b) = {wrong_start}: \
MSE {r['mse_gradient_at_wrong_start']:.1e}, \
cross-entropy {r['cross_entropy_gradient_at_wrong_start']:.2f}
  60 steps of gradient descent (learning rate 1) from there with chalknet's Dense(1, "sigmoid"):
  accuracy {r['mse_accuracy_after_descent']:.2f} with loss="mse", \
{r['cross_entropy_accuracy_after_descent']:.2f} with loss="binary_crossentropy"
Notice: with MSE the gradient dies exactly where the model is most wrong (the sigmoid's slope
p(1 - p) multiplies it); cross-entropy cancels that factor, so dL/dz = p - y.""")
    draw_surfaces(pictures, w_values, b_values, surfaces, paths)
    results["pictures"] = pictures.written
    return results
