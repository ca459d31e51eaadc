"""plot_history: the training curves of a ``fit`` run (matplotlib is an optional extra)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..callbacks import History


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plot_history needs matplotlib: pip install matplotlib (or pip install "
            "'chalknet[plot]')"
        ) from None
    return plt


def plot_history(history: History | dict[str, list[float]],
                 metrics: Sequence[str] | None = None, path: str | os.PathLike | None = None,
                 show: bool = False) -> Figure:
    """One panel per quantity ("loss", "accuracy", ...), training and validation curves
    against the epoch. ``history`` is a History or its ``.history`` dict. Saves the figure
    to ``path`` when given (PNG by extension) and returns the matplotlib Figure."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history: expected a History (or its .history dict) with values")
    names = metrics or [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
    missing = [name for name in names if name not in logs]
    if missing:
        raise ValueError(f"plot_history: {missing} not in the history; it has {sorted(logs)}")
    plt = _pyplot()
    from matplotlib import ticker

    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(logs[name]) + 1)
        axis.plot(epochs, logs[name], marker="o", label="training")
        if f"val_{name}" in logs:
            axis.plot(range(1, len(logs[f"val_{name}"]) + 1), logs[f"val_{name}"], marker="o",
                      label="validation")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    if show:
        plt.show()
    return figure
