"""Chapter 4: gradients by hand equal chalknet's, both pass gradient_check, a bug is caught."""

from __future__ import annotations

import numpy as np
import pytest

from chalknet.course import backprop as chapter

pytest.importorskip("chalknet.models", reason="needs Sequential (branch train)")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return chapter.run(tmp_path_factory.mktemp("backprop"), quick=True)


def test_hand_computed_values_equal_chalknets(results):
    differences = results["max_difference_hand_vs_chalknet"]
    assert set(differences) >= {"p", "loss", "dL/dz2", "dL/dW2", "dL/db2", "dL/dW1", "dL/db1",
                                "dL/dx"}
    for name, difference in differences.items():
        assert difference < 1e-12, name


def test_every_layer_passes_gradient_check(results):
    assert results["gradient_check_tolerance"] <= 1e-6
    for name, error in results["gradient_check"].items():
        assert error < 1e-7, name


def test_a_backward_that_forgets_the_activation_is_caught(results):
    assert not results["buggy_layer_passed"]
    assert results["buggy_layer_error"] > 0.1


def test_hand_gradients_match_finite_differences_of_the_hand_loss():
    # Independent of chalknet's layers: perturb each weight of by_hand's own loss.
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((2, 3)), rng.standard_normal(3),
               rng.standard_normal((3, 1)), rng.standard_normal(1)]
    x, y = chapter.XOR_INPUTS, chapter.XOR_TARGETS
    hand = chapter.by_hand(x, y, *weights)
    step = 1e-6
    for name, weight in zip(("dL/dW1", "dL/db1", "dL/dW2", "dL/db2"), weights, strict=True):
        numeric = np.zeros_like(weight)
        for index in np.ndindex(weight.shape):
            saved = weight[index]
            weight[index] = saved + step
            up = chapter.by_hand(x, y, *weights)["loss"]
            weight[index] = saved - step
            down = chapter.by_hand(x, y, *weights)["loss"]
            weight[index] = saved
            numeric[index] = (up - down) / (2 * step)
        np.testing.assert_allclose(hand[name], numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_the_check_picture_is_written(results):
    pytest.importorskip("matplotlib")
    assert [p.rsplit("/", 1)[-1] for p in results["pictures"]] == ["gradient_check.png"]
