"""Gradient checking: compare ``backward`` with finite differences (part of the lesson).

Backpropagation is easy to get subtly wrong: a missing transpose or a forgotten term still gives
numbers of the right shape. The check is simple. Take a scalar function of the output,

    L(x, w) = sum(forward(x) * R)        with R a fixed random array,

so dL/dy = R. Then ``backward(R)`` must return dL/dx and store dL/dw, and each of these must
agree with the central difference

    dL/dt ~= (L(t + h) - L(t - h)) / (2 h)          (error O(h^2), one entry t at a time).

Work in float64: in float32 the rounding of L alone (~1e-7 |L|) divided by 2h swamps the
comparison. For each tensor the report gives the relative error

    max |analytic - numeric| / max(max |analytic|, max |numeric|),

which is about 1e-9 or smaller for a correct float64 layer; above 1e-6 something is wrong.
Functions with kinks (relu, max pooling) must be checked at inputs away from the kinks, where
a step of h cannot cross one.

Example::

    import numpy as np
    from chalknet.layers import Dense
    from chalknet.utils import gradient_check

    report = gradient_check(Dense(3, activation="tanh"), np.random.randn(4, 5), verbose=True)
    # gradient check (passed, tolerance 1e-06):
    #   bias        relative error 2.1e-11
    #   ...
    assert report.passed
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .random import set_random_seed

if TYPE_CHECKING:
    from ..layers.base import Layer


def numerical_gradient(f: Callable[[], float], x: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """dL/dx of the scalar function ``f()`` by central differences, perturbing ``x`` in place
    (one entry at a time; each is restored)."""
    grad = np.zeros(x.shape, dtype=np.float64)
    flat, grad_flat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient: x must be a contiguous array (perturbed in place)")
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + step
        up = f()
        flat[i] = saved - step
        down = f()
        flat[i] = saved
        grad_flat[i] = (up - down) / (2 * step)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |analytic - numeric| / max(max |analytic|, max |numeric|); 0 when both are 0."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"relative_error: shapes differ, {analytic.shape} vs {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(analytic - numeric)) / scale)


class GradientCheckReport:
    """Relative error per checked tensor ("input", then each weight), worst first in ``str``."""

    def __init__(self, errors: dict[str, float], tolerance: float):
        self.errors = dict(errors)
        self.tolerance = tolerance

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def worst(self) -> str | None:
        """Name of the tensor with the largest error."""
        return max(self.errors, key=self.errors.get) if self.errors else None

    @property
    def passed(self) -> bool:
        return self.max_error < self.tolerance

    def __bool__(self):
        return self.passed

    def __str__(self):
        lines = [f"gradient check ({'passed' if self.passed else 'FAILED'}, "
                 f"tolerance {self.tolerance:g}):"]
        for name, error in sorted(self.errors.items(), key=lambda kv: -kv[1]):
            flag = "" if error < self.tolerance else "   <-- too large"
            lines.append(f"  {name:<32} relative error {error:.3e}{flag}")
        return "\n".join(lines)

    __repr__ = __str__


def _weight_names(target, count):
    names = getattr(target, "weight_names", None)
    if isinstance(names, (list, tuple)) and len(names) == count:
        names = [str(n) for n in names]
        if len(set(names)) == count:
            return names
        return [f"{i}:{n}" for i, n in enumerate(names)]
    return [f"weight[{i}]" for i in range(count)]


def _as_float64_layer(target):
    """A float64 copy of a float32 Layer (same config and weights); other objects unchanged."""
    from ..layers.base import Layer

    if not isinstance(target, Layer) or target.dtype == np.float64:
        return target
    clone = type(target).from_config({**target.get_config(), "dtype": "float64"})
    if target.built:
        clone.maybe_build(target.input_shape)
        clone.set_weights([w.astype(np.float64) for w in target.get_weights()])
    return clone


def gradient_check(target: Layer, x: np.ndarray, *, training: bool = False,
                   seed: int | None = None, step: float = 1e-5, tolerance: float = 1e-6,
                   projection_seed: int = 0, verbose: bool = False) -> GradientCheckReport:
    """Check ``target.backward`` (and its stored weight gradients) against central differences.

    target: anything with ``forward(x, training)``, ``backward(dy)``, ``get_weights()``,
        ``set_weights()`` and ``get_gradients()``: a layer or a model. A float32 layer is copied
        to float64 first; a model must already hold float64 weights (build it with
        dtype="float64").
    x: an input batch (converted to float64).
    training: passed to ``forward`` (e.g. to check Dropout in training mode).
    seed: when given, ``set_random_seed(seed)`` runs before every forward pass, so random
        layers (Dropout) draw the same mask each time and the function being differentiated is
        fixed. (This reseeds chalknet's generator, as ``set_random_seed`` does.)
    step: the finite-difference step h.  tolerance: the pass mark for the report.
    projection_seed: seeds the fixed random array R that turns the output into the scalar
        L = sum(y * R).

    Returns a ``GradientCheckReport`` (truthy when every relative error is below tolerance);
    with ``verbose=True`` it is also printed.
    """
    target = _as_float64_layer(target)
    x = np.array(x, dtype=np.float64)  # a private copy: perturbed in place below
    def forward():
        if seed is not None:
            set_random_seed(seed)
        return np.asarray(target.forward(x, training=training), dtype=np.float64)

    forward()  # builds the layers on first use; building draws initial weights from the rng,
    y = forward()  # so only from the second pass on does a seeded forward draw the same mask
    weights = [np.array(w) for w in target.get_weights()]
    not_float64 = [w.dtype for w in weights if w.dtype != np.float64]
    if not_float64:
        raise ValueError(
            f"gradient_check: weights must be float64 for a meaningful check, found "
            f"{sorted({str(d) for d in not_float64})}; create the model/layers with "
            f"dtype='float64'"
        )

    projection = np.random.default_rng(projection_seed).standard_normal(y.shape)

    def loss():
        return float(np.sum(forward() * projection))

    dx = target.backward(projection.astype(y.dtype))
    analytic = [np.array(g, dtype=np.float64) for g in target.get_gradients()]

    errors = {}
    if dx is not None:
        errors["input"] = relative_error(dx, numerical_gradient(loss, x, step))
    names = _weight_names(target, len(weights))
    for index, (name, grad) in enumerate(zip(names, analytic, strict=True)):
        if grad.shape != weights[index].shape:
            raise ValueError(f"gradient_check: gradient of {name} has shape {grad.shape}, "
                             f"weight has {weights[index].shape}")
        perturbed = [w.copy() for w in weights]

        def loss_of_weight(index=index, perturbed=perturbed):
            target.set_weights(perturbed)
            return loss()

        errors[name] = relative_error(grad, numerical_gradient(loss_of_weight, perturbed[index],
                                                               step))
    target.set_weights(weights)
    report = GradientCheckReport(errors, tolerance)
    if verbose:
        print(report)
    return report
