"""Small synthetic datasets for the lessons: a noisy polynomial, two spirals, XOR, and noisy
sine waves for the first recurrent networks.

Each function draws from chalknet's random generator (so ``set_random_seed`` makes it
repeatable) unless ``seed`` is given, and returns float32 inputs.
"""

from __future__ import annotations

import numpy as np

from ..utils.random import get_rng


def _rng(seed: int | None) -> np.random.Generator:
    return get_rng() if seed is None else np.random.default_rng(seed)


def polynomial_regression(n_samples: int = 200,
                          coefficients: tuple[float, ...] = (1.0, -2.0, 0.5),
                          noise: float = 0.1, x_range: tuple[float, float] = (-2.0, 2.0),
                          seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x uniform on ``x_range``, y = c0 + c1 x + c2 x^2 + ... + Gaussian noise (std ``noise``).

    Returns ``(x, y)`` with shapes (n_samples, 1) and (n_samples, 1), for fitting the curve
    with a linear model on polynomial features or with a small network.
    """
    rng = _rng(seed)
    x = rng.uniform(x_range[0], x_range[1], size=(n_samples, 1))
    y = np.polynomial.polynomial.polyval(x, np.asarray(coefficients, dtype=np.float64))
    y = y + noise * rng.standard_normal(size=y.shape)
    return x.astype(np.float32), y.astype(np.float32)


def spirals(n_samples: int = 400, noise: float = 0.02, turns: float = 1.5,
            seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals, one per class: not linearly separable, the classic test of
    what a hidden layer buys. Returns ``x`` (n_samples, 2) and labels ``y`` (n_samples,) in {0, 1}
    (half of each; the class-1 spiral is the class-0 spiral turned by 180 degrees). Points
    lie within radius 1, jittered by Gaussian noise of std ``noise``."""
    rng = _rng(seed)
    per_class = n_samples // 2
    counts = (per_class, n_samples - per_class)
    points, labels = [], []
    for label, count in enumerate(counts):
        t = np.sqrt(rng.uniform(0.0, 1.0, size=count))  # more points far out, evenly spread
        angle = 2 * np.pi * turns * t + np.pi * label
        radius = t
        xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        points.append(xy + noise * rng.standard_normal(size=xy.shape))
        labels.append(np.full(count, label, dtype=np.int64))
    x, y = np.concatenate(points), np.concatenate(labels)
    order = rng.permutation(n_samples)
    return x[order].astype(np.float32), y[order]


def xor(n_samples: int | None = None, noise: float = 0.1,
        seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem. With ``n_samples=None``: the four corners of the truth table,
    x = [[0,0],[0,1],[1,0],[1,1]], y = [0,1,1,0]. Otherwise ``n_samples`` points drawn near
    the corners (Gaussian jitter of std ``noise``), labelled by their corner. Returns
    x (n, 2) float32 and y (n, 1) float32."""
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    labels = np.array([0, 1, 1, 0], dtype=np.float32)
    if n_samples is None:
        return corners.astype(np.float32), labels.reshape(-1, 1)
    rng = _rng(seed)
    which = rng.integers(0, 4, size=n_samples)
    x = corners[which] + noise * rng.standard_normal(size=(n_samples, 2))
    return x.astype(np.float32), labels[which].reshape(-1, 1)


def sine_sequences(n_samples: int = 1000, steps: int = 50, noise: float = 0.05,
                   seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Windows of noisy sine waves for next-value prediction with a recurrent network.

    Each sample is ``steps`` values of sin(f t + phase) with a random frequency f in
    [0.05, 0.3] (radians per step) and phase, plus Gaussian noise of std ``noise``; the target
    is the next, noise-free value. Returns x (n_samples, steps, 1) and y (n_samples, 1), float32.
    """
    rng = _rng(seed)
    frequency = rng.uniform(0.05, 0.3, size=(n_samples, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n_samples, 1))
    t = np.arange(steps + 1)
    waves = np.sin(frequency * t + phase)
    x = waves[:, :steps] + noise * rng.standard_normal(size=(n_samples, steps))
    return x[:, :, None].astype(np.float32), waves[:, steps:].astype(np.float32)
