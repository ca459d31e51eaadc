"""The training loop: ``compile``, ``fit``, ``evaluate``, ``predict`` and the one-batch methods.

One training step, as the course draws it:

    1. y_pred = model.forward(x, training=True)
    2. loss   = loss_fn(y, y_pred) + the layers' regularization losses
    3. backward from the loss: dL/dz of the last pre-activation when the loss can fuse with the
       last activation (softmax + cross-entropy: (y_pred - y) / batch), else dL/dy_pred;
       each layer's backward stores its parameter gradients
    4. add the regularization gradients, skip frozen layers
    5. optimizer.apply_gradients(zip(gradients, parameters)) changes the parameters in place

``Trainer`` is a mixin of :class:`chalknet.models.Model`; everything here works on ``self``.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import callbacks as callbacks_module
from . import optimizers
from .utils.random import get_rng

if TYPE_CHECKING:
    from .losses import Loss
    from .metrics import Metric


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())


def _format_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def _interactive_stdout() -> bool:
    """True in a terminal or a Jupyter notebook; False when stdout goes to a file or a pipe."""
    try:
        if sys.stdout.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return type(ipython).__name__ == "ZMQInteractiveShell"


class _Progress:
    """Keras-style progress output for one ``fit`` run.

    verbose=1 in a terminal or notebook: a live bar per epoch (tqdm.auto when installed,
    else one line rewritten in place). verbose=2, or stdout not a terminal: one line per epoch.
    verbose=0: nothing.
    """

    def __init__(self, verbose, epochs: int, steps: int):
        verbose = 1 if verbose == "auto" else int(verbose)  # Keras's "auto" is 1 here
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.live = verbose == 1 and _interactive_stdout()
        self.bar = None
        self._tqdm = None
        if self.live:
            try:
                from tqdm.auto import tqdm
                self._tqdm = tqdm
            except ImportError:
                self._tqdm = None
        self._last_draw = 0.0
        self._width = 0  # length of the line last drawn in place (to blank it out)

    def epoch_begin(self, epoch: int) -> None:
        self.start = time.perf_counter()
        if self.verbose == 0:
            return
        if self.live and self._tqdm is not None:
            self.bar = self._tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}",
                                  unit="step", file=sys.stdout, dynamic_ncols=True, leave=True)
        else:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def batch_end(self, step: int, logs: dict) -> None:
        if not self.live:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(_format_logs(logs), refresh=False)
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and step + 1 < self.steps:
            return
        self._last_draw = now
        elapsed = now - self.start
        eta = elapsed / (step + 1) * (self.steps - step - 1)
        width = 20
        done = int(width * (step + 1) / self.steps)
        bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + "." * (width - done)
        line = f"{step + 1}/{self.steps} [{bar}] - ETA: {_format_seconds(eta)} - " \
               f"{_format_logs(logs)}"
        sys.stdout.write("\r" + line.ljust(self._width))
        self._width = len(line)
        sys.stdout.flush()

    def epoch_end(self, logs: dict) -> None:
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        if self.bar is not None:
            self.bar.set_postfix_str(_format_logs(logs), refresh=True)
            self.bar.close()
            self.bar = None
            return
        per_step = elapsed / max(self.steps, 1) * 1000
        line = f"{self.steps}/{self.steps} - {_format_seconds(elapsed)} - {per_step:.0f}ms/step" \
               f" - {_format_logs(logs)}"
        if self.live:
            sys.stdout.write("\r" + line.ljust(self._width) + "\n")
            self._width = 0
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.live and self._width:
            sys.stdout.write("\n")
            self._width = 0


class _DeferInterrupt:
    """Turn Ctrl-C during ``fit`` into a request to stop after the current batch.

    Installed only in the main thread (where Python delivers signals). A second Ctrl-C while
    the batch finishes interrupts at once, as usual.
    """

    def __enter__(self):
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):
                self._previous = None
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class _RunningMeans:
    """Batch values averaged over an epoch, weighted by batch size (as Keras's metrics)."""

    def __init__(self):
        self.totals: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict, batch_size: int) -> None:
        for key, value in values.items():
            self.totals[key] = self.totals.get(key, 0.0) + float(value) * batch_size
        self.count += batch_size

    def result(self) -> dict:
        return {key: total / self.count for key, total in self.totals.items()}


def _check_arrays(name: str, x, y):
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{name}: x must have a batch axis, got a scalar")
    if len(x) == 0:
        raise ValueError(f"{name}: x has no samples (shape {x.shape})")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or len(y) != len(x):
            raise ValueError(
                f"{name}: x and y must have the same number of samples, got x of shape "
                f"{x.shape} and y of shape {y.shape}"
            )
    return x, y


def _batches(count: int, batch_size: int, order=None):
    """Index ranges (or index arrays, when shuffled) of consecutive batches."""
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        yield slice(start, stop) if order is None else order[start:stop]


class Trainer:
    """``compile``/``fit``/``evaluate``/``predict``; mixed into ``chalknet.Model``."""

    # ----- compile ---------------------------------------------------------------------------
    def compile(self, optimizer: str | optimizers.Optimizer = "rmsprop",
                loss: str | Loss | None = None,
                metrics: Sequence[str | Metric] | None = None) -> None:
        """Choose the optimizer, the loss and the metrics reported during training.

        Each may be a Keras name ("adam", "categorical_crossentropy", "accuracy") or an
        object. Which layers are trainable is read now, as in Keras 2: freezing a layer
        afterwards takes effect at the next ``compile`` (this is what lets a GAN train its
        discriminator on its own and through a combined model in which it is frozen).
        """
        from . import losses
        from . import metrics as metrics_module

        if loss is None:
            raise ValueError(f"{self.name}.compile: a loss is required, e.g. loss='mse'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self.compiled_metrics = [metrics_module.get(m, loss=self.loss) for m in metrics or []]
        self._compile_identifiers = {"loss": loss, "metrics": list(metrics or [])}
        self._trainable_at_compile = {id(layer): trainable
                                      for layer, trainable in self._leaf_layers()}
        self.compiled = True

    def _require_compiled(self, what: str) -> None:
        if not getattr(self, "compiled", False):
            raise RuntimeError(
                f"{self.name}.{what}: the model must be compiled first, e.g. "
                "model.compile(optimizer='adam', loss='mse')"
            )

    @property
    def metrics_names(self) -> list[str]:
        return ["loss", *(m.name for m in getattr(self, "compiled_metrics", []))]

    # ----- one step --------------------------------------------------------------------------
    def _trainable_parameters(self):
        """(layer, weight name) of every parameter the optimizer may change."""
        flags = getattr(self, "_trainable_at_compile", {})
        for layer, trainable_now in self._leaf_layers():
            if flags.get(id(layer), trainable_now):
                for name in layer.weight_names:
                    if layer._trainable_flags.get(name, True):
                        yield layer, name

    def _regularization_loss(self) -> float:
        return float(sum(layer.regularization_loss() for layer, _ in self._leaf_layers()
                         if hasattr(layer, "regularization_loss")))

    def _loss_and_logs(self, y, y_pred) -> dict:
        """The batch's loss (with regularization) and metrics, over unmasked steps only."""
        y_kept_true, y_kept, _ = self._masked_targets(y, y_pred)
        logs = {"loss": float(self.loss(y_kept_true, y_kept)) + self._regularization_loss()}
        for metric in self.compiled_metrics:
            logs[metric.name] = float(metric(y_kept_true, y_kept))
        return logs

    def _train_step(self, x, y) -> dict:
        y_pred = self.forward(x, training=True)
        logs = self._loss_and_logs(y, y_pred)
        # Nobody reads dL/dx of the first layer in a training step: let it skip that product.
        first = next(self._leaf_layers(), (None, None))[0]
        skip = first is not None and getattr(first, "needs_input_gradient", False)
        if skip:
            first.needs_input_gradient = False
        try:
            self._backward_loss(self.loss, y, y_pred)
        finally:
            if skip:
                first.needs_input_gradient = True
        grads_and_vars = self._gradients_and_parameters()
        if grads_and_vars:
            self.optimizer.apply_gradients(grads_and_vars)
        return logs

    def _gradients_and_parameters(self) -> list:
        """(data gradient + regularization gradient, parameter) for every trainable parameter,
        read from the layers after ``backward``."""
        pairs = []
        per_layer = {}  # id(layer) -> (data gradients, regularization gradients) by name
        for layer, name in self._trainable_parameters():
            if id(layer) not in per_layer:
                per_layer[id(layer)] = (
                    dict(zip(layer.weight_names, layer.get_gradients(), strict=True)),
                    layer.regularization_gradients()
                    if hasattr(layer, "regularization_gradients") else {})
            gradients, regularization = per_layer[id(layer)]
            gradient = gradients[name]
            if name in regularization:
                gradient = gradient + regularization[name]
            pairs.append((gradient, getattr(layer, name)))
        return pairs

    def _test_step(self, x, y) -> dict:
        return self._loss_and_logs(y, self.forward(x, training=False))

    # ----- fit -------------------------------------------------------------------------------
    def fit(self, x: np.ndarray | None = None, y: np.ndarray | None = None,
            batch_size: int | None = 32, epochs: int = 1, verbose: int | str = 1,
            callbacks: Sequence[callbacks_module.Callback] | None = None,
            validation_split: float = 0.0,
            validation_data: tuple[np.ndarray, np.ndarray] | None = None, shuffle: bool = True,
            initial_epoch: int = 0) -> callbacks_module.History:
        """Train for ``epochs`` passes over (x, y); returns a ``History``.

        validation_split: the fraction of the data held out for validation. As in Keras it is
            the LAST fraction of the samples, taken before any shuffling: put the data in
            random order first if it is sorted (by class, by date, ...).
        validation_data: (x_val, y_val), used instead of validation_split.
        shuffle: shuffle the training samples before each epoch (chalknet's random
            generator, so ``set_random_seed`` makes the order repeatable).
        initial_epoch: the epoch to start counting from (to resume a run).
        verbose: 0 silent, 1 (or "auto") a progress bar (one line per epoch when stdout is not a
            terminal), 2 one line per epoch.

        Ctrl-C (KeyboardInterrupt) stops training after the current batch: the model keeps
        the weights of the last completed step, callbacks get ``on_train_end`` (so
        EarlyStopping can restore its best weights), and fit returns the History of the
        completed epochs with ``history.interrupted = True``, instead of raising as Keras
        does, so that the script can go on to evaluate or save what was learned.
        """
        self._require_compiled("fit")
        x, y = _check_arrays(f"{self.name}.fit", x, y)
        if y is None:
            raise ValueError(f"{self.name}.fit: y (the targets) is required")
        if batch_size is None:
            batch_size = 32
        if int(batch_size) < 1:
            raise ValueError(f"{self.name}.fit: batch_size must be >= 1, got {batch_size}")
        batch_size = int(batch_size)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(f"{self.name}.fit: validation_data must be (x_val, y_val)")
            x_val, y_val = _check_arrays(f"{self.name}.fit validation_data", *validation_data)
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(
                    f"{self.name}.fit: validation_split must be in (0, 1), got {validation_split}"
                )
            split_at = math.floor(len(x) * (1.0 - validation_split))
            if split_at == 0 or split_at == len(x):
                raise ValueError(
                    f"{self.name}.fit: validation_split={validation_split} of {len(x)} samples "
                    "leaves no samples on one side"
                )
            x, x_val = x[:split_at], x[split_at:]
            y, y_val = y[:split_at], y[split_at:]
        else:
            x_val = y_val = None

        steps = math.ceil(len(x) / batch_size)
        history = callbacks_module.History()
        callback_list = callbacks_module.CallbackList(
            [*(callbacks or []), history], model=self,
            params={"epochs": epochs, "steps": steps, "verbose": verbose})
        progress = _Progress(verbose, epochs, steps)
        self.stop_training = False
        where = [initial_epoch, 0]  # the batch in progress, for the Ctrl-C message
        interrupted = False
        with _DeferInterrupt() as interrupt:
            callback_list.on_train_begin()
            try:
                for epoch in range(initial_epoch, epochs):
                    logs = self._fit_epoch(epoch, x, y, batch_size, shuffle, callback_list,
                                           progress, interrupt, where)
                    if logs is None:
                        interrupted = True
                        break
                    if x_val is not None:
                        logs.update({f"val_{k}": v for k, v in self._evaluate_arrays(
                            x_val, y_val, batch_size, callback_list).items()})
                    progress.epoch_end(logs)
                    callback_list.on_epoch_end(epoch, logs=logs)
                    if self.stop_training:
                        break
            except KeyboardInterrupt:
                if interrupt.requested:
                    raise  # a second Ctrl-C while the batch finished: leave at once
                # Outside the main thread Ctrl-C arrives mid-batch, as an exception.
                interrupted = True
            finally:
                progress.close()
            if interrupted:
                history.interrupted = True
                self.stop_training = True
                print(f"{self.name}.fit: interrupted (Ctrl-C) in epoch {where[0] + 1} at batch "
                      f"{where[1] + 1}/{steps}; History holds the {len(history.epoch)} "
                      "completed epoch(s).", flush=True)
            callback_list.on_train_end()
        return history

    def _fit_epoch(self, epoch, x, y, batch_size, shuffle, callback_list, progress, interrupt,
                   where):
        """One pass over the training data: the epoch's logs, or None when Ctrl-C stopped it
        (after the batch in progress). ``where`` tracks the current (epoch, batch)."""
        order = get_rng().permutation(len(x)) if shuffle else None
        callback_list.on_epoch_begin(epoch)
        progress.epoch_begin(epoch)
        means = _RunningMeans()
        for step, index in enumerate(_batches(len(x), batch_size, order)):
            where[:] = [epoch, step]
            callback_list.on_train_batch_begin(step)
            x_batch, y_batch = x[index], y[index]
            means.add(self._train_step(x_batch, y_batch), len(x_batch))
            batch_logs = means.result()
            callback_list.on_train_batch_end(step, logs=batch_logs)
            progress.batch_end(step, batch_logs)
            if interrupt.requested:
                return None
            if self.stop_training:
                break
        return means.result()

    # ----- evaluate / predict ----------------------------------------------------------------
    def _evaluate_arrays(self, x, y, batch_size, callback_list=None) -> dict:
        means = _RunningMeans()
        if callback_list is not None:
            callback_list.on_test_begin()
        for step, index in enumerate(_batches(len(x), batch_size)):
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            x_batch = x[index]
            means.add(self._test_step(x_batch, y[index]), len(x_batch))
            if callback_list is not None:
                callback_list.on_test_batch_end(step, logs=means.result())
        logs = means.result()
        if callback_list is not None:
            callback_list.on_test_end(logs=logs)
        return logs

    def evaluate(self, x: np.ndarray | None = None, y: np.ndarray | None = None,
                 batch_size: int | None = 32, verbose: int | str = 1, return_dict: bool = False,
                 callbacks: Sequence[callbacks_module.Callback] | None = None,
                 ) -> float | list[float] | dict[str, float]:
        """Loss (with regularization) and metrics on (x, y), in inference mode.

        Returns ``[loss, *metrics]``, a float when no metrics were compiled, or a dict with
        ``return_dict=True``."""
        self._require_compiled("evaluate")
        x, y = _check_arrays(f"{self.name}.evaluate", x, y)
        if y is None:
            raise ValueError(f"{self.name}.evaluate: y (the targets) is required")
        start = time.perf_counter()
        callback_list = callbacks_module.CallbackList(callbacks, model=self)
        logs = self._evaluate_arrays(x, y, int(batch_size or 32), callback_list)
        if verbose:
            steps = math.ceil(len(x) / int(batch_size or 32))
            print(f"{steps}/{steps} - {_format_seconds(time.perf_counter() - start)} - "
                  f"{_format_logs(logs)}", flush=True)
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x: np.ndarray, batch_size: int | None = 32, verbose: int | str = 0,
                callbacks: Sequence[callbacks_module.Callback] | None = None) -> np.ndarray:
        """The model's outputs for ``x``, computed in batches in inference mode.

        ``verbose`` defaults to 0 (Keras prints a line for every call; lessons call predict
        often)."""
        x, _ = _check_arrays(f"{self.name}.predict", x, None)
        batch_size = int(batch_size or 32)
        callback_list = callbacks_module.CallbackList(callbacks, model=self)
        callback_list.on_predict_begin()
        start = time.perf_counter()
        outputs = []
        for step, index in enumerate(_batches(len(x), batch_size)):
            callback_list.on_predict_batch_begin(step)
            outputs.append(self.forward(x[index], training=False))
            callback_list.on_predict_batch_end(step)
        callback_list.on_predict_end()
        if verbose:
            steps = len(outputs)
            print(f"{steps}/{steps} - {_format_seconds(time.perf_counter() - start)}",
                  flush=True)
        return np.concatenate(outputs, axis=0)

    # ----- one batch -------------------------------------------------------------------------
    def _as_result(self, logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def train_on_batch(self, x: np.ndarray, y: np.ndarray, return_dict: bool = False,
                       ) -> float | list[float] | dict[str, float]:
        """One training step on exactly this batch; returns loss (and metrics) before it."""
        self._require_compiled("train_on_batch")
        x, y = _check_arrays(f"{self.name}.train_on_batch", x, y)
        return self._as_result(self._train_step(x, y), return_dict)

    def test_on_batch(self, x: np.ndarray, y: np.ndarray, return_dict: bool = False,
                      ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) on this batch in inference mode; nothing is updated."""
        self._require_compiled("test_on_batch")
        x, y = _check_arrays(f"{self.name}.test_on_batch", x, y)
        return self._as_result(self._test_step(x, y), return_dict)

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        """The outputs for this batch, in inference mode."""
        return self.forward(np.asarray(x), training=False)
