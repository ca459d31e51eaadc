"""Chapter 4 — Backpropagation by hand.

A 2-layer network on the four XOR points, small enough to print every number:

    z1 = x W1 + b1      a1 = tanh(z1)          hidden layer, 3 units
    z2 = a1 W2 + b2     p  = sigmoid(z2)       output layer, 1 unit
    L  = -mean(y ln p + (1 - y) ln(1 - p))     binary cross-entropy

The chapter computes the forward values and every gradient twice: once by hand with the chain
rule written out in NumPy, once by chalknet's layers, one after the other as the model chains
them (``layer.forward``, ``loss.gradient``, ``layer.backward``, ``layer.get_gradients()``), and
shows that they agree. Then ``chalknet.utils.gradient_check``
compares each layer's backward with finite differences, and catches a deliberately wrong
backward (one that forgets the activation's derivative).

The backward pass, from the loss down (N = 4 samples):
    dL/dz2 = (p - y) / N                 sigmoid and cross-entropy together: the p(1 - p) of
                                         the sigmoid cancels the 1 / (p(1 - p)) of the loss
    dL/dW2 = a1^T dL/dz2                 dL/db2 = sum over samples of dL/dz2
    dL/da1 = dL/dz2 W2^T
    dL/dz1 = dL/da1 * (1 - a1^2)         tanh'(z) = 1 - tanh(z)^2
    dL/dW1 = x^T dL/dz1                  dL/db1 = sum over samples of dL/dz1
    dL/dx  = dL/dz1 W1^T

Run it: ``python -m chalknet demo backprop``.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

NAME = "backprop"
NUMBER = 4
TITLE = "Backpropagation by hand: a 2-layer network's values and gradients, checked"

XOR_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_TARGETS = np.array([[0.0], [1.0], [1.0], [0.0]])


def build_network(seed=0):
    """Sequential: Dense(3, tanh) -> Dense(1, sigmoid), float64 so gradients can be checked."""
    from ..layers import Dense
    from ..models import Input, Sequential
    from ..utils import set_random_seed

    set_random_seed(seed)
    return Sequential([Input(shape=(2,), dtype="float64"),
                       Dense(3, activation="tanh", dtype="float64", name="hidden"),
                       Dense(1, activation="sigmoid", dtype="float64", name="output")])


def by_hand(x, y, w1, b1, w2, b2):
    """Forward and backward with the chain rule written out (the module docstring's equations).
    Returns a dict of every intermediate value and gradient."""
    n = x.shape[0]
    z1 = x @ w1 + b1
    a1 = np.tanh(z1)
    z2 = a1 @ w2 + b2
    p = 1.0 / (1.0 + np.exp(-z2))
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    d_p = (p - y) / (p * (1 - p)) / n            # dL/dp of the mean cross-entropy
    d_z2 = d_p * p * (1 - p)                     # sigmoid'(z2) = p (1 - p); equals (p - y) / n
    d_w2 = a1.T @ d_z2
    d_b2 = d_z2.sum(axis=0)
    d_a1 = d_z2 @ w2.T
    d_z1 = d_a1 * (1 - a1**2)
    d_w1 = x.T @ d_z1
    d_b1 = d_z1.sum(axis=0)
    d_x = d_z1 @ w1.T
    return {"z1": z1, "a1": a1, "z2": z2, "p": p, "loss": loss, "dL/dp": d_p, "dL/dz2": d_z2,
            "dL/dW2": d_w2, "dL/db2": d_b2, "dL/da1": d_a1, "dL/dz1": d_z1, "dL/dW1": d_w1,
            "dL/db1": d_b1, "dL/dx": d_x}


def by_chalknet(model, x, y):
    """The same numbers from chalknet: forward, the loss's gradient, backward, get_gradients."""
    from .. import losses

    hidden, output = model.layers[-2], model.layers[-1]
    bce = losses.BinaryCrossentropy()
    a1 = hidden.forward(x)
    p = output.forward(a1)
    d_p = bce.gradient(y, p)
    d_a1 = output.backward(d_p)
    d_x = hidden.backward(d_a1)
    (d_w2, d_b2), (d_w1, d_b1) = output.get_gradients(), hidden.get_gradients()
    fused_d_z2 = bce.preactivation_gradient(y, p, output.activation)
    return {"a1": a1, "p": p, "loss": bce(y, p), "dL/dp": d_p, "dL/dz2": fused_d_z2,
            "dL/dW2": d_w2, "dL/db2": d_b2, "dL/da1": d_a1, "dL/dW1": d_w1, "dL/db1": d_b1,
            "dL/dx": d_x}


def forgetful_dense(units, activation):
    """A Dense layer with a classic bug: its backward skips the activation's derivative
    (it treats dL/dy as if it were dL/dz)."""
    from ..layers import Dense

    class ForgetfulDense(Dense):
        def backward(self, dy):
            return self.backward_preactivation(dy)  # BUG: should multiply by tanh'(z) first

    return ForgetfulDense(units, activation=activation, dtype="float64")


def show(label, value):
    text = np.array2string(np.asarray(value), precision=4, suppress_small=True,
                           max_line_width=90)
    lines = text.splitlines()
    print(f"[{NAME}]   {label:<7} = {lines[0]}")
    for line in lines[1:]:
        print(f"[{NAME}]             {line}")


def draw_checks(pictures, reports):
    """Bar chart of gradient_check's relative error per tensor, log scale, with the tolerance."""
    figure, ax = pictures.new(width=6.5, height=4.0)
    if figure is None:
        return
    labels, errors = [], []
    for layer_label, report in reports.items():
        for tensor, error in report.errors.items():
            labels.append(f"{layer_label}\n{tensor}")
            errors.append(max(error, 1e-16))
    colors = ["tab:red" if e >= reports["whole model"].tolerance else "tab:green" for e in errors]
    ax.bar(range(len(errors)), errors, color=colors)
    ax.axhline(reports["whole model"].tolerance, color="k", linestyle="--", label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(range(len(errors)), labels, fontsize=6, rotation=90)
    ax.set_ylabel("relative error vs finite differences")
    ax.set_title("gradient_check: correct layers (green) and the buggy one (red)")
    ax.legend(fontsize=8)
    pictures.save(figure, "gradient_check.png")


def run(output_dir, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter: print every value and gradient, check them, return the numbers.

    ``quick`` changes nothing: the chapter is small.
    """
    pictures = Pictures(output_dir, NAME)
    with one_thread():
        return _run(seed, pictures)


def _run(seed, pictures):
    from ..utils import gradient_check

    x, y = XOR_INPUTS, XOR_TARGETS
    model = build_network(seed)
    model.forward(x)  # builds the layers
    hidden, output = model.layers[-2], model.layers[-1]
    w1, b1 = hidden.get_weights()
    w2, b2 = output.get_weights()
    hand = by_hand(x, y, w1, b1, w2, b2)
    ours = by_chalknet(model, x, y)

    say(NAME, "The network: x (4, 2) -> Dense(3, tanh) -> Dense(1, sigmoid), XOR targets.")
    print(f"[{NAME}] weights (glorot_uniform, seed {seed}):")
    for label, value in (("W1", w1), ("b1", b1), ("W2", w2), ("b2", b2)):
        show(label, value)
    print(f"[{NAME}] forward pass:")
    for label in ("z1", "a1", "z2", "p"):
        show(label, hand[label])
    print(f"[{NAME}]   loss    = {hand['loss']:.6f}")
    print(f"[{NAME}] backward pass (chain rule, from the loss down):")
    for label in ("dL/dp", "dL/dz2", "dL/dW2", "dL/db2", "dL/da1", "dL/dz1", "dL/dW1",
                  "dL/db1", "dL/dx"):
        show(label, hand[label])

    differences = {label: float(np.max(np.abs(np.asarray(ours[label]) - hand[label])))
                   for label in ours}
    worst = max(differences, key=differences.get)
    say(NAME, f"""
chalknet's layers give the same numbers: the largest difference over every value above is
{differences[worst]:.1e} (in {worst}), rounding in the last bits of float64.""")

    reports = {"hidden layer": gradient_check(hidden, x),
               "output layer": gradient_check(output, hand["a1"]),
               "whole model": gradient_check(model, x)}
    print(f"[{NAME}] gradient_check: backward vs central finite differences (float64):")
    for label, report in reports.items():
        print(f"[{NAME}]   {label:<13} worst relative error {report.max_error:.1e} "
              f"({'passed' if report.passed else 'FAILED'})")

    buggy = forgetful_dense(3, "tanh")
    buggy(x)
    buggy.set_weights([w1, b1])
    buggy_report = gradient_check(buggy, x)
    verdict = "passes it: the check is broken" if buggy_report.passed else "fails it"
    say(NAME, f"""
A Dense layer whose backward forgets tanh's derivative still returns arrays of the right
shapes, but gradient_check {verdict} (worst relative error {buggy_report.max_error:.2f}).
Notice: dL/dz2 is just (p - y) / N; every other gradient is a matrix product with the values
the forward pass kept (x, a1) or the weights (W1, W2), times the local derivative 1 - a1^2.""")
    draw_checks(pictures, {**reports, "buggy hidden layer": buggy_report})
    return {
        "loss": float(hand["loss"]),
        "max_difference_hand_vs_chalknet": differences,
        "gradient_check": {label: report.max_error for label, report in reports.items()},
        "gradient_check_tolerance": reports["whole model"].tolerance,
        "buggy_layer_error": buggy_report.max_error,
        "buggy_layer_passed": buggy_report.passed,
        "pictures": pictures.written,
    }
