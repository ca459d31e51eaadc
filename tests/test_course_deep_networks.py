"""Chapter 5: vanishing gradients, PReLU/Maxout, and overfitting cured by regularisation."""

from __future__ import annotations

import numpy as np
import pytest

from chalknet.course import deep_networks as chapter


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return chapter.run(tmp_path_factory.mktemp("deep_networks"), quick=True)


def test_sigmoid_gradients_vanish_towards_the_input_relu_gradients_do_not(results):
    sigmoid = results["vanishing_gradient"]["sigmoid"]
    relu = results["vanishing_gradient"]["relu"]
    depth = results["settings"]["depth"]
    assert len(sigmoid["gradient_norms"]) == len(relu["gradient_norms"]) == depth + 1
    # Sigmoid: every hidden layer's gradient is smaller than the one above it, and across 10
    # layers the first is at least 1000x smaller than the last (sigmoid' <= 1/4 per layer).
    hidden = np.asarray(sigmoid["gradient_norms"][:depth])
    assert np.all(hidden[:-1] < hidden[1:])
    assert sigmoid["first_to_last_hidden_ratio"] < 1e-3
    # ReLU with He initialisation: the first layer's gradient is within 10x of the last's.
    assert 0.1 < relu["first_to_last_hidden_ratio"] < 10
    assert relu["first_to_last_hidden_ratio"] > 100 * sigmoid["first_to_last_hidden_ratio"]


def test_gradient_norms_are_the_layers_true_gradients():
    # gradient_norms reads what backward stored; compare one layer with finite differences
    # of the loss (central differences on a few kernel entries; the model is float32, so
    # the step is large and the tolerance 2 %).
    from chalknet.losses import SparseCategoricalCrossentropy

    model = chapter.deep_network("relu", depth=2, width=5, initializer="he_normal", seed=1)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, 784)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    norms = chapter.gradient_norms(model, x, y)
    first = model.layers[0]
    gradient = first.get_gradients()[0]
    assert norms[0] == pytest.approx(np.linalg.norm(gradient))
    loss = SparseCategoricalCrossentropy()
    for index in [(0, 0), (100, 2), (400, 4)]:
        saved = first.kernel[index]
        first.kernel[index] = saved + 1e-2
        up = loss(y, model.predict(x))
        first.kernel[index] = saved - 1e-2
        down = loss(y, model.predict(x))
        first.kernel[index] = saved
        assert (up - down) / 2e-2 == pytest.approx(gradient[index], rel=0.02, abs=1e-7)


def test_the_vanishing_gradient_slows_training(results):
    sigmoid = results["vanishing_gradient"]["sigmoid"]
    relu = results["vanishing_gradient"]["relu"]
    assert relu["val_accuracy"][-1] > sigmoid["val_accuracy"][-1] + 0.2


def test_prelu_and_maxout_learn(results):
    activations = results["activations"]
    for kind in ("relu", "prelu", "maxout"):
        assert activations[kind]["val_accuracy"][-1] > 0.6, kind
    # PReLU's slopes start at 0 (ReLU) and move; Maxout has twice the hidden Dense weights.
    assert np.max(np.abs(activations["prelu"]["alpha"])) > 0.01
    assert activations["maxout"]["parameters"] > 1.8 * activations["relu"]["parameters"]


def test_small_data_overfits_without_regularisation(results):
    plain = results["overfitting"]["no regularisation"]
    assert plain["train_accuracy"] > 0.98
    assert plain["val_accuracy"] < plain["train_accuracy"] - 0.1
    # The validation loss ends above its minimum: it turned back up.
    assert plain["best_val_epoch"] < plain["epochs_run"]
    assert plain["history"]["val_loss"][-1] > min(plain["history"]["val_loss"]) + 0.03


def test_l2_and_early_stopping_lower_the_train_validation_gap(results):
    # Gap = validation cross-entropy - training cross-entropy of the final model (no penalty,
    # inference mode); each cure must shrink it by at least 0.05.
    overfit = results["overfitting"]
    plain_gap = overfit["no regularisation"]["loss_gap"]
    assert overfit["L2 (1e-2)"]["loss_gap"] < plain_gap - 0.05
    stopped = overfit["early stopping"]
    assert stopped["loss_gap"] < plain_gap - 0.05
    assert stopped["epochs_run"] < results["settings"]["overfit_epochs"]


def test_dropout_keeps_the_network_from_memorising(results):
    # With units dropped, the training loss (measured with dropout on, as fit reports it)
    # stays far above the plain network's, which goes to ~0.
    overfit = results["overfitting"]
    assert (overfit["dropout (0.2, 0.5)"]["history"]["loss"][-1]
            > 10 * overfit["no regularisation"]["history"]["loss"][-1])


def test_pictures_are_written(results):
    pytest.importorskip("matplotlib")
    assert sorted(p.rsplit("/", 1)[-1] for p in results["pictures"]) == [
        "overfitting.png", "prelu_maxout.png", "vanishing_gradient.png"]
