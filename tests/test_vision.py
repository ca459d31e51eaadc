"""chalknet.vision: input gradients, activation maximisation, DeepDream, style transfer.

Small float64 convnets with random weights (seeded) unless a test says otherwise; every
claimed gradient is compared with central finite differences, every claimed improvement is
measured with an independent forward pass through the model's own layers.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chalknet
from chalknet import layers, vision

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_convnet(dtype="float64", seed=0, size=8, classes=4):
    chalknet.utils.set_random_seed(seed)
    return chalknet.Sequential([
        chalknet.Input(shape=(size, size, 1)),
        layers.Conv2D(3, 3, activation="relu", dtype=dtype, name="conv"),
        layers.MaxPooling2D(2, dtype=dtype, name="pool"),
        layers.Conv2D(4, 2, activation="tanh", dtype=dtype, name="conv_b"),
        layers.Flatten(dtype=dtype, name="flatten"),
        layers.Dropout(0.5, dtype=dtype, name="dropout"),
        layers.Dense(classes, activation="softmax", dtype=dtype, name="dense"),
    ])


def images(count=2, size=8, seed=1, dtype="float64"):
    return np.random.default_rng(seed).uniform(0, 1, (count, size, size, 1)).astype(dtype)


def manual_forward(model, x, stop):
    """The model's own layers, one after the other, up to index ``stop`` (inference mode)."""
    for layer in model.layers[:stop + 1]:
        x = layer.forward(x, training=False)
    return x


def logits_directly(model, x):
    """z = h W + b of the last Dense layer, from its public weights."""
    hidden = manual_forward(model, x, len(model.layers) - 2)
    kernel, bias = model.layers[-1].get_weights()
    return hidden @ kernel + bias


def finite_difference(function, x, h=1e-6):
    """Central differences of a scalar function of every entry of x."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        gradient[index] = (function(x + step) - function(x - step)) / (2 * h)
    return gradient


def relative_error(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b))))


# ----- input gradients ------------------------------------------------------------------------
def test_input_gradient_matches_finite_differences():
    model = tiny_convnet()
    x = images()
    weights = np.random.default_rng(2).standard_normal((2, 4))

    def objective(inputs):
        return float(np.sum(model.predict(inputs) * weights))

    analytic = model.input_gradient(x, output_gradient=weights)
    assert relative_error(analytic, finite_difference(objective, x)) < 1e-6


def test_class_score_is_the_logit_and_its_gradient_matches_finite_differences():
    model = tiny_convnet()
    x = images()
    classes = np.array([1, 3])
    scores, gradient = vision.class_score_gradient(model, x, classes)
    logits = logits_directly(model, x)
    np.testing.assert_allclose(scores, logits[[0, 1], classes], rtol=1e-12)
    # the logits are those whose softmax the model outputs
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(axis=1, keepdims=True), model.predict(x),
                               rtol=1e-12)

    def summed_scores(inputs):
        return float(logits_directly(model, inputs)[[0, 1], classes].sum())

    assert relative_error(gradient, finite_difference(summed_scores, x)) < 1e-6


def test_class_score_gradient_leaves_the_model_alone():
    model = tiny_convnet()
    x = images()
    before = model.predict(x)
    vision.class_score_gradient(model, x, 0)
    assert model.layers[-1].activation.name == "softmax"
    np.testing.assert_array_equal(model.predict(x), before)


# ----- activation maximisation ------------------------------------------------------------------
def test_maximize_class_raises_every_class_score_and_respects_the_pixel_range():
    model = tiny_convnet()
    classes = [0, 1, 2, 3]
    start = 0.5 + 0.01 * np.random.default_rng(0).standard_normal((4, 8, 8, 1))
    result, history = vision.maximize_class(model, classes, steps=30, x0=start,
                                            return_history=True)
    assert result.shape == (4, 8, 8, 1) and history.shape == (31, 4)
    assert result.min() >= 0 and result.max() <= 1
    before = logits_directly(model, start)[np.arange(4), classes]
    after = logits_directly(model, result)[np.arange(4), classes]
    assert np.all(after > before + 0.5), (before, after)
    np.testing.assert_allclose(history[-1], after, rtol=1e-10)


def test_regularisers_make_the_maximising_image_smoother():
    model = tiny_convnet()
    plain = vision.maximize_class(model, 2, steps=30, tv=0.0)
    smooth = vision.maximize_class(model, 2, steps=30, tv=1.0)
    assert vision.total_variation(smooth)[0] < vision.total_variation(plain)[0]
    small = vision.maximize_class(model, 2, steps=30, tv=0.0, l2=5.0, clip=None)
    assert np.sum(small**2) < np.sum(plain**2)


def test_maximize_filter_raises_the_filter_mean_activation():
    model = tiny_convnet()
    start = images(count=3)
    filters = [0, 1, 2]
    result, history = vision.maximize_filter(model, "conv", filters, steps=20, x0=start,
                                             tv=0.0, preactivation=False, return_history=True)

    def filter_means(inputs):
        activation = manual_forward(model, inputs, 0)
        return activation[np.arange(3), :, :, filters].mean(axis=(1, 2))

    assert np.all(filter_means(result) > filter_means(start))
    np.testing.assert_allclose(history[0], filter_means(start), rtol=1e-10)


def test_maximize_one_unit_changes_only_its_receptive_field():
    model = tiny_convnet()
    result, history = vision.maximize_filter(model, "conv", [0, 2], position=(2, 3), steps=15,
                                             tv=0.0, return_history=True)
    # start from the default grey image of seed 0 again, to compare pixel by pixel
    grey = vision.maximize_filter(model, "conv", [0, 2], position=(2, 3), steps=0, tv=0.0)
    changed = np.any(result != grey, axis=(0, 3))
    receptive_field = np.zeros((8, 8), bool)
    receptive_field[2:5, 3:6] = True  # a 3x3 valid convolution's output (2, 3)
    assert not np.any(changed & ~receptive_field) and np.any(changed)
    # the pre-activation z rose, and the unit is on: relu(z) > 0
    assert np.all(history[-1] > history[0])
    assert np.all(manual_forward(model, result, 0)[[0, 1], 2, 3, [0, 2]] > 0)
    with pytest.raises(ValueError, match=r"position \(6, 0\) is not in the feature maps"):
        vision.maximize_filter(model, "conv", 0, position=(6, 0), steps=1)
    with pytest.raises(ValueError, match="position must be"):
        vision.maximize_filter(model, "flatten", 0, position="center", steps=1)


# ----- DeepDream ----------------------------------------------------------------------------------
@pytest.mark.parametrize("octaves", [(1,), (2, 1)])
def test_deep_dream_increases_the_layer_activation_norm(octaves):
    model = tiny_convnet()
    image = images(count=1)[0]
    dream, history = vision.deep_dream(model, image, "conv_b", steps=10, octaves=octaves,
                                       return_history=True)
    assert dream.shape == image.shape
    norm_before = np.sum(manual_forward(model, image[None], 2) ** 2)
    norm_after = np.sum(manual_forward(model, dream[None], 2) ** 2)
    assert norm_after > 1.2 * norm_before
    assert history.shape == (10 * len(octaves) + 1, 1)
    assert history[-1, 0] > history[0, 0]


def test_deep_dream_octave_must_divide_the_image():
    with pytest.raises(ValueError, match="octave block 3 must divide the image size 8x8"):
        vision.deep_dream(tiny_convnet(), images(count=1)[0], "conv", octaves=(3,))


# ----- style transfer -----------------------------------------------------------------------------
def test_gram_matrix_matches_the_definition():
    features = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    gram = vision.gram_matrix(features)
    assert gram.shape == (2, 5, 5)
    for n in range(2):
        for i in range(5):
            for j in range(5):
                direct = sum(features[n, y, x, i] * features[n, y, x, j]
                             for y in range(3) for x in range(4))
                assert gram[n, i, j] == pytest.approx(direct, rel=1e-12)


def test_style_loss_of_an_image_against_itself_is_zero_and_its_gradient_is_right():
    rng = np.random.default_rng(4)
    features = rng.standard_normal((1, 3, 3, 4))
    values, gradient = vision.style_loss(features, vision.gram_matrix(features)[0])
    assert values[0] == 0 and not gradient.any()
    target = vision.gram_matrix(rng.standard_normal((1, 3, 3, 4)))[0]
    values, gradient = vision.style_loss(features, target)
    # Gatys et al. eq. 4 written out: 1/(4 C^2 M^2) sum (G - A)^2, C = 4 filters, M = 9
    direct = np.sum((vision.gram_matrix(features)[0] - target) ** 2) / (4 * 16 * 81)
    assert values[0] == pytest.approx(direct, rel=1e-12)
    numeric = finite_difference(lambda f: vision.style_loss(f, target)[0][0], features)
    assert relative_error(gradient, numeric) < 1e-6


def test_content_loss_and_gradient():
    rng = np.random.default_rng(5)
    features, target = rng.standard_normal((2, 2, 3, 2, 4))
    values, gradient = vision.content_loss(features, target)
    np.testing.assert_allclose(values, 0.5 * ((features - target) ** 2).sum(axis=(1, 2, 3)))
    numeric = finite_difference(lambda f: vision.content_loss(f, target)[0].sum(), features)
    assert relative_error(gradient, numeric) < 1e-6


def test_style_transfer_lowers_the_loss_and_matches_the_style_better():
    model = tiny_convnet(size=12)
    content, style = images(count=2, size=12)
    result, history = vision.style_transfer(
        model, content, style, content_layer="conv_b", style_layers=["conv", "conv_b"],
        style_weight=1e3, steps=40, return_history=True)
    assert result.shape == content.shape
    assert history[-1] < 0.8 * history[0]
    style_gram = vision.gram_matrix(manual_forward(model, style[None], 0))

    def style_distance(image):
        return np.sum((vision.gram_matrix(manual_forward(model, image[None], 0)) - style_gram)
                      ** 2)

    assert style_distance(result) < style_distance(content)


def test_style_transfer_gradient_over_several_layers_matches_finite_differences():
    """The gradient sums the paths from the content layer and each style layer (one of them
    shared with the content layer) back to the pixels."""
    model = tiny_convnet(size=8)
    content, style = images(count=2)
    loss_and_gradient = vision.style_transfer_loss(
        model, content, style, content_layer="conv_b", style_layers=["conv", "pool", "conv_b"],
        content_weight=0.5, style_weight=10.0)
    image = images(count=1, seed=7)
    value, gradient = loss_and_gradient(image)
    assert gradient.shape == image.shape and value > 0
    numeric = finite_difference(lambda v: loss_and_gradient(v)[0], image)
    assert relative_error(gradient, numeric) < 1e-6


# ----- regularisers -------------------------------------------------------------------------------
def test_total_variation_and_its_gradient():
    x = np.random.default_rng(6).standard_normal((2, 4, 5, 2))
    direct = [sum((x[n, i + 1, j, c] - x[n, i, j, c]) ** 2 for i in range(3) for j in range(5)
                  for c in range(2))
              + sum((x[n, i, j + 1, c] - x[n, i, j, c]) ** 2 for i in range(4) for j in range(4)
                    for c in range(2)) for n in range(2)]
    np.testing.assert_allclose(vision.total_variation(x), direct, rtol=1e-12)
    numeric = finite_difference(lambda v: vision.total_variation(v).sum(), x)
    assert relative_error(vision.total_variation_gradient(x), numeric) < 1e-6


# ----- sub-models ----------------------------------------------------------------------------
def test_feature_extractor_shares_layers_and_stops_at_the_layer():
    model = tiny_convnet()
    x = images()
    for layer in ("pool", 1, -5, model.layers[1]):
        extractor = vision.feature_extractor(model, layer)
        assert extractor.layers == model.layers[:2]
        np.testing.assert_array_equal(extractor.predict(x), manual_forward(model, x, 1))
    logits = vision.feature_extractor(model, "dense", preactivation=True)
    np.testing.assert_allclose(logits.predict(x), logits_directly(model, x), rtol=1e-12)
    assert logits.layers[-1] is not model.layers[-1]


def test_feature_extractor_for_larger_images_copies_the_convolutions():
    model = tiny_convnet()
    big = images(count=1, size=12)
    extractor = vision.feature_extractor(model, "conv", input_shape=(12, 12, 1))
    assert extractor.output_shape == (None, 10, 10, 3)
    # a valid 3x3 convolution of the top-left 8x8 crop is the top-left 6x6 of the big output
    np.testing.assert_allclose(extractor.predict(big)[:, :6, :6],
                               manual_forward(model, big[:, :8, :8], 0), rtol=1e-12)


def test_errors_name_what_was_expected():
    model = tiny_convnet()
    with pytest.raises(ValueError, match="has no layer 'nope'"):
        vision.feature_extractor(model, "nope")
    with pytest.raises(ValueError, match="layer index 9 out of range"):
        vision.feature_extractor(model, 9)
    with pytest.raises(TypeError, match="by name, index or object, got float"):
        vision.feature_extractor(model, 1.5)
    with pytest.raises(ValueError, match="has no activation to remove"):
        vision.feature_extractor(model, "flatten", preactivation=True)
    with pytest.raises(ValueError, match=r"expected images of shape \(None, 8, 8, 1\)"):
        vision.class_score_gradient(model, np.zeros((2, 9, 9, 1)), 0)
    with pytest.raises(ValueError, match=r"class index \[4\] out of range for 4 classes"):
        vision.maximize_class(model, 4, steps=1)
    with pytest.raises(ValueError, match="out of range for 3 classes"):
        vision.maximize_filter(model, "conv", 3, steps=1)
    with pytest.raises(ValueError, match="one content image and one style image"):
        vision.style_transfer(model, images(count=2), images(count=1), content_layer="conv",
                              style_layers="conv")
    with pytest.raises(ValueError, match="feature maps"):
        vision.gram_matrix(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="expected a built chalknet Sequential"):
        vision.feature_extractor(layers.Dense(3), 0)


# ----- pictures ------------------------------------------------------------------------------
def test_pictures_are_written(tmp_path):
    pytest.importorskip("matplotlib", reason="pictures need the optional matplotlib")

    model = tiny_convnet()
    x = images(count=1)
    vision.plot_kernels(model, path=tmp_path / "kernels.png")
    vision.plot_feature_maps(model, x[0], "conv", path=tmp_path / "maps.png")
    vision.plot_images(x, ["a"], path=tmp_path / "grid.png")
    for name in ("kernels.png", "maps.png", "grid.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not feature maps"):
        vision.plot_feature_maps(model, x[0], "flatten")
    dense_only = chalknet.Sequential([chalknet.Input(shape=(4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="has no Conv2D layer"):
        vision.plot_kernels(dense_only)


def test_pictures_without_matplotlib_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'chalknet\[plot\]'"):
        vision.plot_images(images(count=1))


# ----- the chapter: a trained convnet ---------------------------------------------------------
def test_the_chapter_in_quick_mode_trains_and_writes_its_pictures(tmp_path, capsys):
    """One epoch of the Keras convnet on the 8,000 digits (about 10 s on one thread), then
    every picture. Seed 0 reaches 91.5 % after that epoch; the claim checked is >= 90 %. The 97.5 %
    after 5 epochs is checked by examples/cnn.py (exit status 1 when missed)."""
    pytest.importorskip("matplotlib", reason="the chapter's pictures need matplotlib")
    from chalknet.course import cnn

    layers.Conv2D(1, 3)  # the chapter must not rely on default names (conv2d, conv2d_1, ...)
    results = cnn.run(tmp_path, quick=True)
    assert results["epochs"] == 1 and results["test_accuracy"] >= 0.90
    assert results["class_image_predictions"] == list(range(10))
    before, after = results["dream_activation"]
    assert after > before
    first, last = results["style_loss"]
    assert last < first
    for name in ("kernels", "feature_maps", "class_maximization", "filter_maximization",
                 "deep_dream", "style_transfer"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "test accuracy" in capsys.readouterr().out
