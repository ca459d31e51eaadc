"""train_test_split, KFold, cross_validate and plot_history."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chalknet
from chalknet import layers, optimizers
from chalknet.utils import KFold, cross_validate, plot_history, set_random_seed, train_test_split

pytestmark = pytest.mark.usefixtures("one_thread")


def test_train_test_split_partitions_and_keeps_pairs():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    assert len(x_test) == 3 and len(x_train) == 7
    np.testing.assert_array_equal(x_train[:, 0] // 2, y_train)  # rows stay with their labels
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    _, last, _, _ = train_test_split(x, y, test_size=2, shuffle=False)
    np.testing.assert_array_equal(last, x[8:])
    with pytest.raises(ValueError, match="same number of samples"):
        train_test_split(x, y[:5])


def test_kfold_each_sample_validated_once():
    folds = list(KFold(3).split(np.zeros(10)))
    assert [len(val) for _, val in folds] == [4, 3, 3]
    validated = np.concatenate([val for _, val in folds])
    assert sorted(validated.tolist()) == list(range(10))
    for train, val in folds:
        assert set(train).isdisjoint(val) and len(train) + len(val) == 10
    shuffled = np.concatenate([v for _, v in KFold(3, shuffle=True, random_state=0).split(
        np.zeros(10))])
    assert sorted(shuffled.tolist()) == list(range(10)) and shuffled.tolist() != list(range(10))
    with pytest.raises(ValueError, match="n_splits must be >= 2"):
        KFold(1)


def test_cross_validate_trains_a_fresh_model_per_fold():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32).reshape(-1, 1)
    built = []

    def build():
        set_random_seed(len(built))
        model = chalknet.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(2,))])
        model.compile(optimizers.SGD(0.5), "binary_crossentropy", ["accuracy"])
        built.append(model)
        return model

    results = cross_validate(build, x, y, cv=3, fit_kwargs={"epochs": 20}, random_state=0)
    assert len(built) == 3 and len({id(m) for m in built}) == 3
    assert len(results["loss"]) == 3 and len(results["history"]) == 3
    assert min(results["accuracy"]) >= 0.8  # a linearly separable problem


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.5],
               "accuracy": [0.5, 0.7, 0.8]}
    path = tmp_path / "curves.png"
    figure = plot_history(history, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figure.axes) == 2
    with pytest.raises(ValueError, match="not in the history"):
        plot_history(history, metrics=["mae"])


def test_plot_history_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="plot_history needs matplotlib: pip install"):
        plot_history({"loss": [1.0]})
