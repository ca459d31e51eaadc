"""Callbacks: code that ``fit`` calls at fixed points of training, with Keras's hooks and names.

``fit`` calls, in order: ``on_train_begin``; for each epoch ``on_epoch_begin``, then for each
batch ``on_train_batch_begin``/``on_train_batch_end``, then (with validation data)
``on_test_begin``/``on_test_end``, then ``on_epoch_end(epoch, logs)``; finally ``on_train_end``.
``logs`` holds the epoch's "loss", the metrics, "val_loss", "val_<metric>" and, when the
optimizer has one, "learning_rate". A callback stops training with ``model.stop_training = True``.
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .models import Model


class Callback:
    """Base class: every hook does nothing. ``self.model`` and ``self.params`` are set by fit."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model: Model | None) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class CallbackList:
    """Several callbacks called as one (what the training loop talks to)."""

    _HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
              "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
              "on_predict_batch_begin", "on_predict_batch_end")

    def __init__(self, callbacks: Iterable[Callback] | None = None, model: Model | None = None,
                 params: dict | None = None):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks must be Callback instances, got {type(callback).__name__}"
                )
            if model is not None:
                callback.set_model(model)
            callback.set_params(dict(params or {}))

    def __getattr__(self, hook):
        if hook not in self._HOOKS:
            raise AttributeError(hook)

        # Every hook receives a logs dict, as in Keras: (logs) or (epoch/batch, logs).
        takes_index = "epoch" in hook or "batch" in hook

        def call_all(*args, logs=None):
            index = args[:1] if takes_index else ()
            for callback in self.callbacks:
                getattr(callback, hook)(*index, {} if logs is None else logs)
        return call_all


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` is the list of per-epoch losses.

    ``history.epoch`` lists the epochs recorded; ``history.interrupted`` is True when training
    was stopped with Ctrl-C (the epoch that was cut short is not recorded).
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.interrupted = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _monitor_op(mode: str, monitor: str, owner: str):
    """np.less or np.greater for a mode of "min", "max" or "auto" (accuracy-like -> max)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        name = monitor.removeprefix("val_")
        mode = "max" if name.endswith(("acc", "accuracy", "auc")) else "min"
    return np.less if mode == "min" else np.greater


def _warn_missing(owner: str, monitor: str, logs) -> None:
    warnings.warn(
        f"{owner}: the monitored value {monitor!r} is not in the logs; available: "
        f"{', '.join(sorted(logs or {}))}", stacklevel=3)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model gets the weights of the best epoch back at the
    end of training, whether or not patience ran out (Keras 3). ``baseline``: training stops
    when the monitored value does not beat it within ``patience`` epochs.
    ``start_from_epoch``: epochs to wait before monitoring (a warm-up).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = _monitor_op(mode, monitor, "EarlyStopping")

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.monitor_op is np.less else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference) -> bool:
        # "Better by more than min_delta": value < reference - min_delta (or > ref + min_delta).
        if self.monitor_op is np.less:
            return bool(value + self.min_delta < reference)
        return bool(value - self.min_delta > reference)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            _warn_missing("EarlyStopping", self.monitor, logs)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # the first monitored epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) after every epoch, or only when ``monitor`` improves.

    ``filepath`` may hold format fields filled from the epoch (1-based) and the logs, for
    example ``"model-{epoch:02d}-{val_loss:.3f}.chalknet"``. Files are written atomically.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", initial_value_threshold: float | None = None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.monitor_op = _monitor_op(mode, monitor, "ModelCheckpoint")
        if initial_value_threshold is not None:
            self.best = initial_value_threshold
        else:
            self.best = math.inf if self.monitor_op is np.less else -math.inf

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as missing:
            raise ValueError(
                f"ModelCheckpoint: filepath {self.filepath!r} uses {missing}, which is not in "
                f"the logs; available: epoch, {', '.join(sorted(logs))}"
            ) from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                _warn_missing("ModelCheckpoint", self.monitor, logs)
                return
            if not self.monitor_op(current, self.best):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of each epoch to
    ``schedule(epoch, current_learning_rate)`` (epoch counted from 0, as Keras); a schedule
    with one parameter is called as ``schedule(epoch)``."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose
        try:
            parameters = inspect.signature(schedule).parameters.values()
            positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY,
                                                              p.POSITIONAL_OR_KEYWORD)]
            self._takes_learning_rate = len(positional) >= 2 or any(
                p.kind is p.VAR_POSITIONAL for p in parameters)
        except (TypeError, ValueError):  # no signature (a builtin): use Keras's form
            self._takes_learning_rate = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        if self._takes_learning_rate:
            learning_rate = self.schedule(epoch, optimizer.learning_rate)
        else:  # the older one-argument form, schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (int, float, np.floating, np.integer)):
            raise ValueError(
                f"LearningRateScheduler: the schedule must return a number, got "
                f"{type(learning_rate).__name__} at epoch {epoch}"
            )
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(learning_rate)}.")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved (by more than
    ``min_delta``) for ``patience`` epochs; then wait ``cooldown`` epochs; never below
    ``min_lr``. Keras's defaults: factor 0.1, patience 10, min_delta 1e-4."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        op = _monitor_op(mode, monitor, "ReduceLROnPlateau")
        if op is np.less:
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = math.inf
        else:
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            _warn_missing("ReduceLROnPlateau", self.monitor, logs)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite, and say so."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"TerminateOnNaN: the loss became {loss} at epoch {self.epoch + 1}, batch "
                  f"{batch + 1}; training stopped. Common causes: a learning rate that is too "
                  "large, unscaled inputs, or log(0) in a hand-written loss.")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write one row per epoch (epoch, then the log keys in sorted order) to a CSV file."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None
        self._has_header = False  # appending to a file that already has its header

    def on_train_begin(self, logs: dict | None = None) -> None:
        has_header = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self.keys = None
        self._has_header = has_header

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._writer is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys],
                                          delimiter=self.separator, extrasaction="ignore")
            if not self._has_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LambdaCallback(Callback):
    """A callback made of functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Accepts any hook name as a keyword (``on_train_batch_end``, ``on_train_begin``, ...).
    """

    def __init__(self, **hooks: Callable[..., Any]):
        super().__init__()
        for name, function in hooks.items():
            if name not in CallbackList._HOOKS:
                raise ValueError(
                    f"LambdaCallback: unknown hook {name!r}; known: "
                    f"{', '.join(CallbackList._HOOKS)}"
                )
            setattr(self, name, function)


__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TerminateOnNaN"]
