"""Callbacks, driven by scripted monitored values so that the expected epochs are worked out by
hand from each callback's rule, and through fit."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import chalknet
from chalknet import callbacks, layers, optimizers
from chalknet.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model():
    set_random_seed(0)
    model = chalknet.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def data(n=24):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 2, n)


class Script(callbacks.Callback):
    """Overwrites logs[key] at each epoch end with the next scripted value and records the
    weights, so callbacks after it see the script. Put it first in the callback list."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values, self.weights = key, list(values), []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def test_early_stopping_patience_and_restore_best():
    # val_loss 1.0, 0.5, 0.6, 0.7, 0.4...: best at epoch 1; patience 2 -> epochs 2 and 3 do not
    # improve -> stop at the end of epoch 3; restore the weights of epoch 1.
    x, y = data()
    model = tiny_model()
    script = Script("val_loss", [1.0, 0.5, 0.6, 0.7, 0.4, 0.3])
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[script, stopper])
    assert history.epoch == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    for got, best in zip(model.get_weights(), script.weights[1], strict=True):
        np.testing.assert_array_equal(got, best)


def test_early_stopping_restores_best_even_without_stopping():
    # Keras 3: best weights come back at the end even when patience never ran out.
    x, y = data()
    model = tiny_model()
    script = Script("val_loss", [0.9, 0.3, 0.8])
    stopper = callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[script, stopper])
    assert history.epoch == [0, 1, 2] and stopper.stopped_epoch == 0
    for got, best in zip(model.get_weights(), script.weights[1], strict=True):
        np.testing.assert_array_equal(got, best)


def test_early_stopping_min_delta_and_max_mode():
    # accuracy (auto -> max) 0.5, 0.55, 0.58, 0.59 with min_delta 0.1: no epoch after the first
    # beats 0.5 + 0.1, so with patience 2 training stops at epoch 2.
    x, y = data()
    model = tiny_model()
    script = Script("val_accuracy", [0.5, 0.55, 0.58, 0.59])
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.1, patience=2)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[script, stopper])
    assert history.epoch == [0, 1, 2]
    # Without restore_best_weights, the model keeps its last weights.
    for got, last in zip(model.get_weights(), script.weights[2], strict=True):
        np.testing.assert_array_equal(got, last)


def test_early_stopping_warns_on_missing_monitor():
    x, y = data()
    model = tiny_model()
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs; available: accuracy"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_model_checkpoint_save_best_only(tmp_path):
    # val_loss 0.5, 0.7, 0.4, 0.45: saves after epochs 1 and 3 (1-based) only.
    x, y = data()
    model = tiny_model()
    script = Script("val_loss", [0.5, 0.7, 0.4, 0.45])
    path = str(tmp_path / "model-{epoch:02d}.chalknet")
    model.fit(x, y, epochs=4, verbose=0, callbacks=[
        script, callbacks.ModelCheckpoint(path, save_best_only=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-01.chalknet",
                                                          "model-03.chalknet"]
    restored = chalknet.models.load_model(tmp_path / "model-03.chalknet")
    for got, saved in zip(restored.get_weights(), script.weights[2], strict=True):
        np.testing.assert_array_equal(got, saved)


def test_model_checkpoint_unknown_field(tmp_path):
    x, y = data()
    model = tiny_model()
    with pytest.raises(ValueError, match="uses 'val_loss', which is not in the logs"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[
            callbacks.ModelCheckpoint(str(tmp_path / "m-{val_loss:.2f}.chalknet"))])


def test_model_checkpoint_every_epoch_weights_only(tmp_path):
    x, y = data()
    model = tiny_model()
    path = tmp_path / "weights.chalknet"
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)])
    other = tiny_model()
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_scheduler():
    x, y = data()
    model = tiny_model()
    seen = []
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)),
        callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))])
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.5**epoch)])
    assert model.optimizer.learning_rate == 0.5


def test_reduce_lr_on_plateau():
    # Keras's rule at each epoch end: if in cooldown, count it down and reset wait; then an
    # improvement resets wait, else (when no longer in cooldown) wait += 1 and at patience the
    # rate is multiplied by factor (not below min_lr) and cooldown restarts.
    # patience 1, factor 0.5, cooldown 2, min_lr 0.02, lr 0.1; val_loss:
    # e0 1.0 best; e1 1.0 no gain -> lr 0.05, cooldown 2; e2 cooldown 1, 0.9 best;
    # e3 cooldown 0, 0.95 -> lr 0.025, cooldown 2; e4 cooldown 1, skipped;
    # e5 cooldown 0, 0.99 -> max(0.0125, 0.02) = 0.02.
    x, y = data()
    model = tiny_model()
    script = Script("val_loss", [1.0, 1.0, 0.9, 0.95, 0.99, 0.99])
    plateau = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.02)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[script, plateau])
    # logs["learning_rate"] is the rate used during the epoch (recorded before reducing).
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025,
                                                              0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    with pytest.raises(ValueError, match="factor must be < 1"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_terminate_on_nan(capsys):
    x, y = data()
    x[5, 0] = np.nan  # the first batch of 8 holds a NaN
    model = tiny_model()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN()])
    assert model.optimizer.iterations == 1
    # As in Keras, the epoch that was cut short still ends (and is recorded, with its NaN).
    assert history.epoch == [0] and math.isnan(history.history["loss"][0])
    assert "loss became nan at epoch 1, batch 1; training stopped" in capsys.readouterr().out


def test_csv_logger(tmp_path):
    x, y = data()
    model = tiny_model()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
                        callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [float(r["loss"]) for r in rows] == pytest.approx(history.history["loss"])
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
              callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path, newline="") as file:
        assert len(list(csv.DictReader(file))) == 3  # no second header


def test_lambda_callback_and_hook_order():
    x, y = data(n=16)
    model = tiny_model()
    events = []
    recorder = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(f"epoch_begin {epoch}"),
        on_train_batch_end=lambda batch, logs: events.append(f"batch {batch}"),
        on_test_begin=lambda logs: events.append("test_begin"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch_end {epoch}"),
        on_train_end=lambda logs: events.append("train_end"))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=(x, y),
              callbacks=[recorder])
    assert events == ["train_begin", "epoch_begin 0", "batch 0", "batch 1", "test_begin",
                      "epoch_end 0", "train_end"]
    with pytest.raises(ValueError, match="unknown hook 'on_epoch_finish'"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_batch_logs_are_running_means():
    x, y = data(n=16)
    model = tiny_model()
    losses = []
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[
        callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
