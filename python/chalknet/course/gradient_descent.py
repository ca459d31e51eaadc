"""Chapter 2 — Gradient descent.

A model with two parameters — chalknet's ``Dense(1)`` on one input feature: y = w x + b — and
the mean squared error on 100 noisy points. Because there are only two parameters, the loss
L(w, b) is a surface we can draw as contours and watch the optimizers walk on. Every step is
the training step written out by hand:

    y_pred = layer.forward(x)
    layer.backward(loss.gradient(y, y_pred))                  # stores dL/dw, dL/db
    optimizer.apply_gradients(zip(layer.get_gradients(), [layer.kernel, layer.bias]))

Lessons:
1. Plain gradient descent, momentum, Adagrad, RMSprop and Adam (chalknet.optimizers) on the
   same surface, with the raw feature (x in [0, 10]) and with the feature scaled to mean 0 and
   variance 1. The raw surface is a long narrow valley (the Hessian's condition number is in
   the hundreds): plain GD must keep its step small for the steep direction and then crawls
   along the valley floor; momentum and the adaptive methods get through. Scaled, the contours
   are circles and every method walks straight in.
2. The learning rate: on a quadratic, gradient descent converges exactly when
   lr < 2 / lambda_max (lambda_max the largest eigenvalue of the Hessian); a rate a little
   below that oscillates, a little above it diverges, a tiny one barely moves.
3. Stochastic vs full-batch: one sample per step makes 100 noisy steps per pass over the data,
   getting close long before full-batch descent has taken a few steps, but with a constant
   learning rate it never settles: it keeps jittering around the minimum.

Run it: ``python -m chalknet demo gradient_descent --out DIR``.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

NAME = "gradient_descent"
NUMBER = 2
TITLE = ("Gradient descent: GD, momentum, Adagrad, RMSprop, Adam on a loss surface; "
         "feature scaling; learning rates; SGD")

SAMPLES = 100
TRUE_W, TRUE_B = 1.5, -3.0


# ----- the problem ------------------------------------------------------------------------------


def make_data(rng):
    """100 points y = 1.5 x - 3 + noise, x uniform in [0, 10]: the raw, unscaled feature."""
    x = rng.uniform(0.0, 10.0, SAMPLES)
    return x, TRUE_W * x + TRUE_B + rng.normal(0.0, 1.0, SAMPLES)


def standardize(x):
    """Feature scaling: (x - mean) / std, what ``layers.Normalization`` does after ``adapt``."""
    return (x - x.mean()) / x.std()


class Surface:
    """The MSE of y = w x + b on fixed data, as a function of (w, b), and its exact minimum.

    L(w, b) = mean((w x + b - y)^2) is a quadratic; its Hessian is the constant matrix
    H = 2 [[mean(x^2), mean(x)], [mean(x), 1]], whose eigenvalues give the curvature along the
    valley's two axes. Their ratio (the condition number) is how elongated the contours are.
    """

    def __init__(self, x, y):
        self.x, self.y = x, y
        design = np.column_stack([x, np.ones_like(x)])
        self.minimum = np.linalg.lstsq(design, y, rcond=None)[0]       # (w*, b*)
        self.hessian = 2.0 * design.T @ design / x.size
        self.eigenvalues = np.linalg.eigvalsh(self.hessian)               # ascending
        self.minimum_loss = self.loss(*self.minimum)

    @property
    def condition_number(self) -> float:
        return float(self.eigenvalues[-1] / self.eigenvalues[0])

    @property
    def critical_learning_rate(self) -> float:
        """Plain GD on this quadratic converges iff lr < 2 / lambda_max."""
        return float(2.0 / self.eigenvalues[-1])

    def loss(self, w, b):
        """L at one point or on a grid (w, b broadcast against each other)."""
        w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
        residual = w[..., None] * self.x + b[..., None] - self.y
        return np.mean(residual**2, axis=-1)

    def gap(self, point) -> float:
        """L(point) - L(minimum): how far above the bottom of the valley a point is."""
        return float(self.loss(*point) - self.minimum_loss)


def descend(optimizer, x, y, start, steps, batch_size=None, rng=None):
    """Train chalknet's Dense(1) (float64) from (w, b) = ``start`` with ``optimizer``; return the
    path, an array (steps + 1, 2) of (w, b) after each step.

    batch_size None: full batch, every step uses all samples. Otherwise the samples are
    shuffled (with ``rng``) once per pass and taken ``batch_size`` at a time.
    """
    from .. import losses
    from ..layers import Dense

    layer = Dense(1, dtype="float64")
    layer.maybe_build((1,))
    layer.set_weights([np.array([[start[0]]]), np.array([start[1]])])
    mse = losses.MeanSquaredError()
    inputs, targets = x[:, None], y[:, None]
    batch_size = batch_size or x.size
    path = [tuple(start)]
    order = np.arange(x.size)
    while len(path) <= steps:
        if batch_size < x.size:
            order = rng.permutation(x.size)
        for first in range(0, x.size, batch_size):
            batch = order[first:first + batch_size]
            y_pred = layer.forward(inputs[batch])
            layer.backward(mse.gradient(targets[batch], y_pred))
            gradients = layer.get_gradients()  # [dL/dkernel, dL/dbias]
            optimizer.apply_gradients(zip(gradients, [layer.kernel, layer.bias], strict=True))
            path.append((float(layer.kernel[0, 0]), float(layer.bias[0])))
            if len(path) > steps:
                break
    return np.array(path)


def the_optimizers(surface):
    """The five optimizers, each with a learning rate that suits it. Plain GD's rate is limited
    by the steepest direction: it gets 0.4 x the critical rate 2 / lambda_max. Momentum gets a
    quarter of that and beta = 0.9: its velocity adds up to ~10 steps along the valley floor."""
    from .. import optimizers

    critical = surface.critical_learning_rate
    return {
        "gradient descent": optimizers.SGD(learning_rate=0.4 * critical),
        "momentum 0.9": optimizers.SGD(learning_rate=0.1 * critical, momentum=0.9),
        "Adagrad": optimizers.Adagrad(learning_rate=1.0),
        "RMSprop": optimizers.RMSprop(learning_rate=0.05),
        "Adam": optimizers.Adam(learning_rate=0.3),
    }


# ----- pictures ---------------------------------------------------------------------------------


def grid_around(surface, paths, margin=0.15, points=160):
    """A (w, b) grid covering the minimum and every path, for the contour plot."""
    every_point = np.vstack([surface.minimum[None], *paths])
    low, high = every_point.min(axis=0), every_point.max(axis=0)
    pad = margin * (high - low) + 1e-3
    w = np.linspace(low[0] - pad[0], high[0] + pad[0], points)
    b = np.linspace(low[1] - pad[1], high[1] + pad[1], points)
    return w, b


def draw_contours(ax, surface, paths, title, equal_aspect=False):
    w, b = grid_around(surface, list(paths.values()))
    gw, gb = np.meshgrid(w, b)
    gap = surface.loss(gw, gb) - surface.minimum_loss
    levels = surface.gap(paths[next(iter(paths))][0]) * np.logspace(-4, 0.3, 14)
    ax.contour(gw, gb, gap, levels=np.unique(levels), colors="0.6", linewidths=0.7)
    for label, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], ".-", markersize=2, linewidth=1, label=label)
    ax.plot(*surface.minimum, "k*", markersize=12, zorder=5)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_title(title, fontsize=10)
    if equal_aspect:
        ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7)


def draw_cross_section(ax, surface, paths, steps_shown):
    """The loss along the line from the start through the minimum, with the first iterates of
    each path on it. The scaled surface is round, so gradient descent never leaves that line."""
    start = paths[next(iter(paths))][0]
    direction = (start - surface.minimum) / np.linalg.norm(start - surface.minimum)
    reach = np.linalg.norm(start - surface.minimum)
    t = np.linspace(-1.4 * reach, 1.4 * reach, 200)
    ax.plot(t, [surface.gap(surface.minimum + s * direction) for s in t], color="0.6")
    for label, path in paths.items():
        shown = path[: steps_shown + 1]
        ax.plot((shown - surface.minimum) @ direction, [surface.gap(p) for p in shown], "o-",
                markersize=3, linewidth=1, label=label)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(-0.05 * surface.gap(start), 1.9 * surface.gap(start))
    ax.set_xlabel("position along the line start -> minimum")
    ax.set_ylabel("L - L_min")
    ax.set_title(f"the first {steps_shown} steps of plain GD", fontsize=10)
    ax.legend(fontsize=7)


# ----- the chapter ------------------------------------------------------------------------------


def run(output_dir, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter: print what to notice, write the pictures, return the numbers."""
    rng = np.random.default_rng(seed)
    pictures = Pictures(output_dir, NAME)
    with one_thread():
        return _run(rng, pictures, steps=200, epochs=60 if quick else 100)


def _compare_optimizers(results, pictures, raw, scaled, steps):
    figure, axes = pictures.new(columns=2, width=5.5, height=4.8)
    for index, (tag, surface) in enumerate((("raw", raw), ("scaled", scaled))):
        start = surface.minimum + np.array([-3.0, -8.0] if tag == "raw" else [-4.0, -6.0])
        paths = {name: descend(optimizer, surface.x, surface.y, start, steps)
                 for name, optimizer in the_optimizers(surface).items()}
        results[f"condition_number_{tag}"] = surface.condition_number
        results[f"final_gap_{tag}"] = {name: surface.gap(p[-1]) for name, p in paths.items()}
        results[f"final_distance_{tag}"] = {
            name: float(np.linalg.norm(p[-1] - surface.minimum)) for name, p in paths.items()}
        print(f"[{NAME}] {tag} feature: Hessian condition number "
              f"{surface.condition_number:.1f}; L - L_min after {steps} steps:")
        for name, gap in results[f"final_gap_{tag}"].items():
            print(f"[{NAME}]   {name:<17} {gap:10.2e}")
        if figure is not None:
            title = (f"{tag} x: condition number {surface.condition_number:.0f}, "
                     f"{steps} steps")
            draw_contours(axes[index], surface, paths, title, equal_aspect=tag == "scaled")
    pictures.save(figure, "optimizers_raw_vs_scaled.png")
    say(NAME, """
Notice: on the raw feature the valley is long and narrow. Plain GD's rate is limited by the
steep direction (above 2 / lambda_max it diverges), so once down the wall it crawls along the
flat floor; momentum builds up speed along the floor, and Adam and RMSprop rescale each
parameter's step. With the feature scaled the contours are circles and every optimizer heads
for the minimum.""")


def _learning_rates(results, pictures, surface, steps=30):
    critical = surface.critical_learning_rate
    fractions = {"too small (0.002 x critical)": 0.002, "good (0.3 x critical)": 0.3,
                 "oscillating (0.95 x critical)": 0.95, "diverging (1.05 x critical)": 1.05}
    from .. import optimizers

    start = surface.minimum + np.array([-4.0, -6.0])
    paths = {label: descend(optimizers.SGD(learning_rate=fraction * critical), surface.x,
                            surface.y, start, steps)
             for label, fraction in fractions.items()}
    gaps = {label: [surface.gap(point) for point in path] for label, path in paths.items()}
    results["critical_learning_rate"] = critical
    results["learning_rate_gaps"] = {label: (g[0], g[-1]) for label, g in gaps.items()}
    print(f"[{NAME}] learning rates on the scaled surface: critical rate 2 / lambda_max = "
          f"{critical:.3f}; L - L_min from start to step {steps}:")
    for label, g in gaps.items():
        print(f"[{NAME}]   {label:<31} {g[0]:9.3g} -> {g[-1]:9.3g}")
    figure, axes = pictures.new(columns=2, width=5.2, height=4.4)
    if figure is not None:
        draw_cross_section(axes[0], surface, paths, steps_shown=8)
        for label, g in gaps.items():
            axes[1].semilogy(np.maximum(g, 1e-16), label=label)
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("L - L_min")
        axes[1].legend(fontsize=7)
        pictures.save(figure, "learning_rates.png")
    say(NAME, """
Notice: below 2 / lambda_max gradient descent converges (just below it, by overshooting back
and forth); just above it every step overshoots further and the loss explodes; a rate far
below it is safe but barely moves.""")


def _stochastic(results, pictures, surface, rng, epochs):
    from .. import optimizers

    start = surface.minimum + np.array([-4.0, -6.0])
    learning_rate = 0.05
    runs = {"full batch (1 step per epoch)": None, "mini-batch of 10": 10,
            "stochastic, 1 sample per step": 1}
    paths, per_epoch = {}, {}
    for label, batch_size in runs.items():
        steps_per_epoch = surface.x.size // (batch_size or surface.x.size)
        path = descend(optimizers.SGD(learning_rate=learning_rate), surface.x, surface.y, start,
                       epochs * steps_per_epoch, batch_size=batch_size, rng=rng)
        paths[label] = path
        per_epoch[label] = [surface.gap(p) for p in path[::steps_per_epoch]]
    last_epoch = paths["stochastic, 1 sample per step"][-surface.x.size:]
    results.update(
        stochastic_learning_rate=learning_rate,
        gap_after_one_epoch={label: g[1] for label, g in per_epoch.items()},
        gap_after_last_epoch={label: g[-1] for label, g in per_epoch.items()},
        stochastic_mean_gap_last_epoch=float(np.mean([surface.gap(p) for p in last_epoch])),
    )
    print(f"[{NAME}] stochastic vs full batch, learning rate {learning_rate}: L - L_min after "
          f"1 epoch / after {epochs} epochs:")
    for label, g in per_epoch.items():
        print(f"[{NAME}]   {label:<31} {g[1]:9.3g} / {g[-1]:9.3g}")
    figure, axes = pictures.new(columns=2, width=5.2, height=4.4)
    if figure is not None:
        draw_contours(axes[0], surface, paths, f"SGD paths, {epochs} epochs", equal_aspect=True)
        for label, g in per_epoch.items():
            axes[1].semilogy(np.maximum(g, 1e-16), label=label)
        axes[1].set_xlabel("epoch (one pass over the 100 samples)")
        axes[1].set_ylabel("L - L_min")
        axes[1].legend(fontsize=7)
        pictures.save(figure, "stochastic_vs_full_batch.png")
    say(NAME, f"""
Notice: per pass over the data, stochastic descent takes 100 small noisy steps and is near the
minimum after one epoch, when full-batch descent has taken one step. But each sample pulls
its own way, so with a constant learning rate the stochastic path keeps jittering around the
minimum (mean L - L_min over its last epoch: {results['stochastic_mean_gap_last_epoch']:.1e}),
while full batch settles exactly; decaying the learning rate removes the jitter.""")


def _run(rng, pictures, steps, epochs):
    x, y = make_data(rng)
    raw, scaled = Surface(x, y), Surface(standardize(x), y)
    results = {}
    _compare_optimizers(results, pictures, raw, scaled, steps)
    _learning_rates(results, pictures, scaled)
    _stochastic(results, pictures, scaled, rng, epochs)
    results["pictures"] = pictures.written
    return results
