"""What a CNN sees: activation maximisation, DeepDream, style transfer and pictures.

Every method here is gradient ascent (or descent) on the *input image* of a trained network,
whose weights stay fixed. The gradient with respect to the input comes from the same
forward/backward protocol the layers use for training: run ``layer.forward`` from the image
to the layer we look at, seed ``backward`` with dObjective/d(activation), and carry it back to
the pixels. Nothing here touches the compiled kernels directly.

- Activation maximisation (Erhan et al. 2009; Simonyan, Vedaldi & Zisserman 2013, eq. 1):
  x* = argmax_x  S(x) - l2 ||x||^2 - tv TV(x),
  where S is one class score or one filter's mean activation. The regularisers keep the
  picture readable: without them the ascent finds high-frequency noise that excites the unit
  just as well (Mahendran & Vedaldi 2015, section 3.2; Yosinski et al. 2015).
- DeepDream (Mordvintsev, Olah & Tyka 2015): start from a real image and climb
  1/2 ||a_l(x)||^2 / |a_l| for a chosen layer l; whatever the layer half-sees gets amplified.
- Style transfer (Gatys, Ecker & Bethge 2016): find x whose activations match a content
  image's at one layer (eq. 1) and whose Gram matrices match a style image's at others
  (eqs. 3-5), by gradient descent on the pixels.

Feature extractor for style transfer: the convnet trained on the bundled MNIST digits (the
chapter's model), not a randomly initialised CNN. Both can work for textures (random filters
are known to give usable Gram statistics), but on 28x28 grey digits the trained filters are
stroke detectors tuned to exactly this kind of image, so the Gram matrices measure stroke
width and orientation, and the content layer keeps the digit's shape; the course also reuses
the model whose filters it has just drawn. Any Sequential convnet can be passed in.

Images are channels-last ``(batch, height, width, channels)`` like the layers. Pixels are
clipped to ``clip`` (default [0, 1], the range the chapter's convnet was trained on).
Pictures need matplotlib (``pip install 'chalknet[plot]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .layers.base import Layer
from .models import Input, Sequential

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "class_score_gradient", "cnn_chapter", "content_loss", "deep_dream", "diagonal_stripes",
    "feature_extractor", "gram_matrix", "layer_index", "maximize_class", "maximize_filter",
    "mnist_convnet", "plot_feature_maps", "plot_images", "plot_kernels", "style_loss",
    "style_transfer", "style_transfer_loss", "total_variation", "total_variation_gradient",
]


# ----- reaching into a model: layer lookup, sub-models, forward to several layers ------------
def layer_index(model: Sequential, layer: str | int | Layer) -> int:
    """Position of ``layer`` in ``model.layers``: a name, an index (negative counts from the
    end) or the layer object itself."""
    layers = _model_layers(model, "layer_index")
    if isinstance(layer, Layer):
        for index, candidate in enumerate(layers):
            if candidate is layer:
                return index
        raise ValueError(f"vision: layer {layer.name!r} is not in model {model.name!r}")
    if isinstance(layer, str):
        names = [candidate.name for candidate in layers]
        if layer not in names:
            raise ValueError(f"vision: model {model.name!r} has no layer {layer!r}; "
                             f"its layers are {names}")
        return names.index(layer)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(f"vision: layer index {layer} out of range for model "
                             f"{model.name!r} with {len(layers)} layers")
        return int(layer) % len(layers)
    raise TypeError(f"vision: a layer is given by name, index or object, got "
                    f"{type(layer).__name__}")


def _model_layers(model, what: str) -> list:
    layers = getattr(model, "layers", None)
    if not layers:
        raise TypeError(f"vision.{what}: expected a built chalknet Sequential with layers, got "
                        f"{type(model).__name__}")
    if getattr(model, "input_shape", None) is None:
        raise ValueError(f"vision.{what}: model {model.name!r} has no input shape yet; give "
                         f"it an Input(shape=...) or call it on data first")
    return layers


def _copy_layer(layer, activation=None):
    """A fresh, unbuilt layer with ``layer``'s configuration (optionally another activation),
    through the public get_config / from_config protocol; weights are set after building."""
    config = dict(layer.get_config())
    config.pop("input_shape", None)
    if activation is not None:
        config["activation"] = activation
    return type(layer).from_config(config)


def feature_extractor(model: Sequential, layer: str | int | Layer, *, preactivation: bool = False,
                      input_shape: tuple[int, ...] | None = None) -> Sequential:
    """A Sequential made of ``model``'s layers up to and including ``layer`` (name, index or
    object): its output is that layer's activation, like Keras's
    ``Model(model.input, model.get_layer(name).output)``.

    The layers are *shared* with ``model`` (same weight arrays), so the extractor follows
    further training. ``preactivation=True`` replaces the last layer by a copy with a linear
    activation, so the output is z (e.g. the logits before softmax). ``input_shape`` (without
    the batch axis) builds copies of the layers for images of another size, which only works
    when every layer up to ``layer`` is convolutional or pooling (a Dense layer fixes the
    size)."""
    layers = _model_layers(model, "feature_extractor")
    stop = layer_index(model, layer)
    originals = list(layers[:stop + 1])
    shape = tuple(model.input_shape if input_shape is None else input_shape)
    chosen = list(originals)
    if shape != tuple(model.input_shape):
        chosen = [_copy_layer(original) for original in originals]
    if preactivation:
        if getattr(chosen[-1], "activation", None) is None:
            raise ValueError(f"vision.feature_extractor: layer {chosen[-1].name!r} "
                             f"({type(chosen[-1]).__name__}) has no activation to remove")
        chosen[-1] = _copy_layer(chosen[-1], activation="linear")
    # Building the Sequential builds the copies for ``shape``; then they get the weights.
    extractor = Sequential([Input(shape=shape, dtype=originals[0].dtype), *chosen],
                           name=f"{model.name}_to_{originals[-1].name}")
    for copy, original in zip(chosen, originals, strict=True):
        if copy is not original:
            copy.set_weights(original.get_weights())
    return extractor


def _forward_to(layers, x, indices) -> list[np.ndarray]:
    """Run ``layers`` in inference mode (dropout off) up to max(indices); return the output
    of each layer in ``indices``. Each layer caches what its backward needs."""
    outputs = {}
    for index, layer in enumerate(layers[:max(indices) + 1]):
        x = layer.forward(x, training=False)
        outputs[index] = x
    return [outputs[index] for index in indices]


def _backward_from(layers, output_gradients: dict) -> np.ndarray:
    """dObjective/dx when the objective depends on several layers' outputs: going down from
    the deepest one, add each layer's own dObjective/d(output) to what flows back from above
    (the chain rule sums over every path to x), then call that layer's backward."""
    gradient = None
    for index in range(max(output_gradients), -1, -1):
        if index in output_gradients:
            own = output_gradients[index]
            gradient = own if gradient is None else gradient + own
        gradient = layers[index].backward(gradient)
    return gradient


def _as_images(x, model, what: str) -> np.ndarray:
    dtype = _model_layers(model, what)[0].dtype
    x = np.asarray(x, dtype=dtype)
    expected = tuple(model.input_shape)
    if x.shape[1:] != expected:
        if x.shape == expected:
            x = x[None]
        else:
            raise ValueError(f"vision.{what}: expected images of shape {(None, *expected)} "
                             f"(or one image {expected}), got {x.shape}")
    return np.array(x, dtype=dtype, order="C")


# ----- objectives: class score, filter activation ---------------------------------------------
def class_score_gradient(model: Sequential, x: np.ndarray,
                         class_index: int | Sequence[int] | np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Scores S_c(x) = z_c, the pre-softmax logits of the last layer, and dS_c/dx.

    ``class_index`` is one class for every image or one per image. Why the logit and not the
    softmax probability p_c = exp(z_c) / sum_k exp(z_k): p_c also rises when the *other*
    scores fall, so maximising it mostly teaches the image what the class is not (Simonyan et
    al. 2013, section 2); z_c asks only for evidence of class c.
    Returns (scores (N,), gradient shaped like x)."""
    x = _as_images(x, model, "class_score_gradient")
    logits_model = feature_extractor(model, -1, preactivation=True)
    logits = logits_model.forward(x, training=False)
    classes = _class_indices(class_index, len(x), logits.shape[-1])
    rows = np.arange(len(x))
    selector = np.zeros_like(logits)
    selector[rows, classes] = 1  # dS/dz: one-hot, so the gradient of sum_i z_{i, c_i}
    return logits[rows, classes], logits_model.backward(selector)


def _class_indices(class_index, count: int, classes: int) -> np.ndarray:
    indices = np.broadcast_to(np.asarray(class_index), (count,)).astype(np.int64)
    if np.any(indices < 0) or np.any(indices >= classes):
        raise ValueError(f"vision: class index {class_index} out of range for {classes} classes")
    return indices


def _filter_gradient(extractor, x, filter_index, position=None):
    """Each image's filter activation, averaged over the positions (``position`` None) or at
    one position (row, column) only, and its gradient with respect to the images."""
    activation = extractor.forward(x, training=False)
    filters = activation.shape[-1]
    indices = _class_indices(filter_index, len(x), filters)
    rows = np.arange(len(x))
    seed = np.zeros_like(activation)
    if position is None:
        positions = int(np.prod(activation.shape[1:-1]))
        flat = activation.reshape(len(x), -1, filters)
        values = flat[rows, :, indices].mean(axis=1)
        seed.reshape(len(x), -1, filters)[rows, :, indices] = 1.0 / positions  # d mean / d a
    else:
        row, column = position
        values = activation[rows, row, column, indices]
        seed[rows, row, column, indices] = 1.0
    return values, extractor.backward(seed)


# ----- regularisers ---------------------------------------------------------------------------
def total_variation(x: np.ndarray) -> np.ndarray:
    """Squared total variation per image (Mahendran & Vedaldi 2015, eq. 8 with beta = 2):
    TV(x) = sum_{i,j,c} (x[i+1,j,c] - x[i,j,c])^2 + (x[i,j+1,c] - x[i,j,c])^2.
    Small for smooth images, large for pixel noise. Returns shape (N,)."""
    x = np.asarray(x)
    down = np.diff(x, axis=1)
    right = np.diff(x, axis=2)
    return (down**2).sum(axis=(1, 2, 3)) + (right**2).sum(axis=(1, 2, 3))


def total_variation_gradient(x: np.ndarray) -> np.ndarray:
    """dTV/dx: each difference d = x[k+1] - x[k] contributes 2d to x[k+1] and -2d to x[k]."""
    x = np.asarray(x)
    gradient = np.zeros_like(x)
    down = 2 * np.diff(x, axis=1)
    gradient[:, 1:] += down
    gradient[:, :-1] -= down
    right = 2 * np.diff(x, axis=2)
    gradient[:, :, 1:] += right
    gradient[:, :, :-1] -= right
    return gradient


# ----- gradient ascent on the image ---------------------------------------------------------
def _normalised(gradient: np.ndarray) -> np.ndarray:
    """The gradient divided by its root-mean-square per image (an all-zero gradient stays
    zero), so a step's size is in pixel units whatever the scale of the objective (the step
    of the Keras and DeepDream recipes)."""
    axes = tuple(range(1, gradient.ndim))
    rms = np.sqrt(np.mean(gradient**2, axis=axes, keepdims=True))
    return np.divide(gradient, rms, out=np.zeros_like(gradient), where=rms > 0)


def _ascend(objective, x, *, steps, step_size, l2, tv, clip, jitter, rng, coarse=1):
    """Gradient ascent  x <- clip(x + step (g / rms(g) - 2 l2 x - tv dTV/dx)),  g = dS/dx.

    Only the objective's gradient is normalised: its scale depends on the layer and the
    unit, while the penalties are already in pixel units, so l2 and tv mean the same for
    every objective. (Normalising the sum instead makes the step keep its size when the
    penalties dominate, and the image then oscillates in a checkerboard.) The step is stable
    while step * tv * 16 < 2 (16 bounds the eigenvalues of TV's Hessian on a 2-D grid).

    ``objective(x) -> (values (N,), dS/dx)``. ``jitter``: before each step the image is rolled
    by a random shift of up to that many pixels and the gradient rolled back (DeepDream's
    trick against pixel-grid artefacts). ``coarse``: the step is averaged over coarse x coarse
    blocks, i.e. taken with respect to a coarser image (DeepDream's octaves). Returns the
    image and the objective value before each step and after the last."""
    history = []
    for _ in range(steps):
        shift = tuple(rng.integers(-jitter, jitter + 1, size=2)) if jitter else (0, 0)
        shifted = np.roll(x, shift, axis=(1, 2))
        values, gradient = objective(shifted)
        history.append(values)
        direction = _normalised(np.roll(gradient, (-shift[0], -shift[1]), axis=(1, 2)))
        if l2:
            direction = direction - 2 * l2 * x
        if tv:
            direction = direction - tv * total_variation_gradient(x)
        if coarse > 1:
            direction = _block_average(direction, coarse)
        x = x + (step_size * direction).astype(x.dtype)
        if clip is not None:
            x = np.clip(x, clip[0], clip[1])
    history.append(objective(x)[0])
    return x, np.array(history)


def _block_average(gradient: np.ndarray, block: int) -> np.ndarray:
    """Average over block x block tiles, each tile filled with its mean: the gradient with
    respect to an image of 1/block the resolution, drawn back at full size."""
    n, h, w, c = gradient.shape
    if h % block or w % block:
        raise ValueError(f"vision.deep_dream: octave block {block} must divide the image size "
                         f"{h}x{w}")
    tiles = gradient.reshape(n, h // block, block, w // block, block, c).mean(axis=(2, 4))
    return np.repeat(np.repeat(tiles, block, axis=1), block, axis=2)


def _start_images(model, count, x0, seed, what):
    rng = np.random.default_rng(seed)
    if x0 is None:
        shape = (count, *model.input_shape)
        # A flat grey image with a little noise: no pattern to begin with.
        x0 = 0.5 + 0.01 * rng.standard_normal(shape)
    x0 = _as_images(x0, model, what)
    if len(x0) == 1 and count > 1:
        x0 = np.repeat(x0, count, axis=0)
    if len(x0) != count:
        raise ValueError(f"vision.{what}: x0 holds {len(x0)} images for {count} targets")
    return x0, rng


def maximize_class(model: Sequential, class_index: int | Sequence[int] | np.ndarray, *,
                   steps: int = 150, step_size: float = 0.02, l2: float = 0.0,
                   tv: float = 0.5, clip: tuple[float, float] | None = (0.0, 1.0),
                   jitter: int = 0, x0: np.ndarray | None = None, seed: int = 0,
                   return_history: bool = False
                   ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Images that the model scores highest for ``class_index`` (one class or a list: one
    image per class, optimised together as a batch), by regularised gradient ascent on the
    pre-softmax score (see ``class_score_gradient`` for why not the probability).

    l2, tv: weights of the ||x||^2 and total-variation penalties (tv = 0 gives pixel noise
    that the network scores highly; stable for tv < 1 / (8 step_size)); clip: pixel range or None;
    x0: starting images (default: grey with a little noise from ``seed``).
    Returns the images, and with ``return_history`` also the scores per step (steps + 1, N)."""
    count = len(np.atleast_1d(class_index))
    x, rng = _start_images(model, count, x0, seed, "maximize_class")
    classes = np.atleast_1d(class_index)
    _class_indices(classes, count, _output_units(model))

    def objective(images):
        return class_score_gradient(model, images, classes)

    x, history = _ascend(objective, x, steps=steps, step_size=step_size, l2=l2, tv=tv,
                         clip=clip, jitter=jitter, rng=rng)
    return (x, history) if return_history else x


def _output_units(model) -> int:
    return int(model.output_shape[-1])


def maximize_filter(model: Sequential, layer: str | int | Layer,
                    filter_index: int | Sequence[int] | np.ndarray, *,
                    position: tuple[int, int] | str | None = None, preactivation: bool = True,
                    steps: int = 100, step_size: float = 0.02, l2: float = 0.0,
                    tv: float = 0.5, clip: tuple[float, float] | None = (0.0, 1.0),
                    jitter: int = 0, x0: np.ndarray | None = None, seed: int = 0,
                    return_history: bool = False
                    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Images that excite filter ``filter_index`` (one or a list) of ``layer`` the most: the
    same ascent as ``maximize_class`` on the filter's mean activation over the positions, or,
    with ``position`` = (row, column) or "center", on one unit (Erhan et al. 2009): only the
    pixels in that unit's receptive field can change, so the picture is the filter's pattern
    at its own scale instead of a texture tiling the image.

    preactivation: climb the filter's response z before its activation (when the layer has
    one). For a ReLU the maximum is the same, but z has a gradient where the unit is off,
    whereas relu(z) = 0 gives none, and such a unit's picture would stay the starting
    grey (Lucid's visualisations optimise pre-ReLU values for the same reason)."""
    has_activation = getattr(model.layers[layer_index(model, layer)], "activation", None)
    extractor = feature_extractor(model, layer,
                                  preactivation=preactivation and has_activation is not None)
    count = len(np.atleast_1d(filter_index))
    filters = np.atleast_1d(filter_index)
    output_shape = extractor.output_shape
    _class_indices(filters, count, int(output_shape[-1]))
    if isinstance(position, str):
        if position != "center" or len(output_shape) != 4:
            raise ValueError(f"vision.maximize_filter: position must be (row, column) or "
                             f"'center' for feature maps, got {position!r} for outputs "
                             f"{output_shape}")
        position = (output_shape[1] // 2, output_shape[2] // 2)
    if position is not None and not (
            len(output_shape) == 4 and len(position) == 2
            and all(0 <= p < n for p, n in zip(position, output_shape[1:3], strict=True))):
        raise ValueError(f"vision.maximize_filter: position {position} is not in the "
                         f"feature maps of shape {output_shape}")
    x, rng = _start_images(model, count, x0, seed, "maximize_filter")
    x, history = _ascend(lambda images: _filter_gradient(extractor, images, filters, position),
                         x, steps=steps, step_size=step_size, l2=l2, tv=tv, clip=clip,
                         jitter=jitter, rng=rng)
    return (x, history) if return_history else x


def _dream_gradient(extractor, x):
    """Objective 1/2 mean(a^2) per image at the chosen layer; its gradient with respect to
    the activation is a / (number of activations per image)."""
    activation = extractor.forward(x, training=False)
    size = activation[0].size
    values = 0.5 * (activation.reshape(len(x), -1) ** 2).mean(axis=1)
    return values, extractor.backward(activation / size)


def deep_dream(model: Sequential, image: np.ndarray, layer: str | int | Layer, *, steps: int = 25,
               step_size: float = 0.03, octaves: Sequence[int] = (2, 1), jitter: int = 1,
               clip: tuple[float, float] | None = (0.0, 1.0), seed: int = 0,
               return_history: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Amplify what ``layer`` sees in ``image``: gradient ascent on 1/2 mean(a_l(x)^2).

    octaves: block sizes from coarse to fine; for each, ``steps`` steps whose update is
    averaged over block x block tiles (the update of an image at 1/block resolution), so
    large patterns form first and details after, as DeepDream's octaves do (each block must
    divide the image size; (1,) turns octaves off). jitter: random roll in pixels per step.
    Returns the dreamed image(s), shaped like ``image``, and with ``return_history`` the
    objective per step (all octaves in order)."""
    single = np.ndim(image) == len(model.input_shape)
    x = _as_images(image, model, "deep_dream")
    extractor = feature_extractor(model, layer)
    rng = np.random.default_rng(seed)
    histories = []
    for octave, block in enumerate(octaves):
        x, history = _ascend(lambda images: _dream_gradient(extractor, images), x,
                             steps=steps, step_size=step_size, l2=0.0, tv=0.0, clip=clip,
                             jitter=jitter, rng=rng, coarse=int(block))
        # Each octave's last value is the next octave's first: keep it once.
        histories.append(history if octave == len(octaves) - 1 else history[:-1])
    x = x[0] if single else x
    return (x, np.concatenate(histories)) if return_history else x


# ----- style transfer ----------------------------------------------------------------------
def gram_matrix(features: np.ndarray) -> np.ndarray:
    """Gram matrices G_ij = sum_p F_pi F_pj over the positions p (Gatys et al. 2016, eq. 3),
    of feature maps (N, H, W, C) -> (N, C, C): which filters fire together, wherever."""
    features = np.asarray(features)
    if features.ndim < 3:
        raise ValueError(f"vision.gram_matrix: expected feature maps (N, ..., C), got shape "
                         f"{features.shape}")
    flat = features.reshape(len(features), -1, features.shape[-1])  # F: (N, M positions, C)
    return np.einsum("npi,npj->nij", flat, flat)


def content_loss(features: np.ndarray,
                 content_features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L_content = 1/2 sum (F - P)^2 per image (Gatys et al. eq. 1); returns (values (N,),
    dL/dF = F - P)."""
    difference = np.asarray(features) - np.asarray(content_features)
    return 0.5 * (difference.reshape(len(difference), -1) ** 2).sum(axis=1), difference


def style_loss(features: np.ndarray, style_gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E = 1/(4 C^2 M^2) sum_ij (G_ij - A_ij)^2 per image (Gatys et al. eq. 4), G the Gram
    matrix of ``features`` (N, H, W, C), A = ``style_gram`` (C, C) or (N, C, C), M = H*W.
    Returns (values (N,), dE/dF = F (G - A) / (C^2 M^2), Gatys et al. eq. 6)."""
    features = np.asarray(features)
    flat = features.reshape(len(features), -1, features.shape[-1])
    positions, channels = flat.shape[1:]
    difference = gram_matrix(features) - np.asarray(style_gram)
    scale = 1.0 / (channels**2 * positions**2)
    values = 0.25 * scale * (difference**2).sum(axis=(1, 2))
    gradient = scale * np.einsum("npi,nij->npj", flat, difference)
    return values, gradient.reshape(features.shape)


def style_transfer_loss(model: Sequential, content_image: np.ndarray, style_image: np.ndarray,
                        *, content_layer: str | int | Layer,
                        style_layers: str | int | Layer | Sequence[str | int | Layer],
                        content_weight: float = 1.0, style_weight: float = 1e6
                        ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The objective of style transfer as a function ``image -> (loss, dloss/dimage)``:
    loss = content_weight * L_content(content_layer) + style_weight * mean_l E_l (Gatys et
    al. 2016, eqs. 1, 4, 5 with equal weights w_l), the targets P (content activations) and A
    (style Gram matrices) computed once here. ``image`` is one image shaped (1, H, W, C).

    The gradient flows back through the model's layers once: going down from the deepest
    chosen layer, each chosen layer adds its own dL/d(activation) to what comes from above."""
    layers = _model_layers(model, "style_transfer")
    content = _as_images(content_image, model, "style_transfer")
    style = _as_images(style_image, model, "style_transfer")
    if len(content) != 1 or len(style) != 1:
        raise ValueError("vision.style_transfer: give one content image and one style image")
    if isinstance(style_layers, (str, int, Layer)):
        style_layers = [style_layers]
    style_indices = [layer_index(model, layer) for layer in style_layers]
    if not style_indices:
        raise ValueError("vision.style_transfer: style_layers is empty")
    content_index = layer_index(model, content_layer)
    content_target = _forward_to(layers, content, [content_index])[0]
    style_grams = [gram_matrix(features) for features in _forward_to(layers, style,
                                                                     style_indices)]
    style_layer_weight = style_weight / len(style_indices)

    def loss_and_gradient(image):
        outputs = _forward_to(layers, image, [content_index, *style_indices])
        value, d_content = content_loss(outputs[0], content_target)
        total = content_weight * value[0]
        gradients = {content_index: content_weight * d_content}
        for index, features, gram in zip(style_indices, outputs[1:], style_grams, strict=True):
            value, d_style = style_loss(features, gram)
            total += style_layer_weight * value[0]
            d_style = style_layer_weight * d_style
            gradients[index] = gradients[index] + d_style if index in gradients else d_style
        return float(total), _backward_from(layers, gradients)

    return loss_and_gradient


def style_transfer(model: Sequential, content_image: np.ndarray, style_image: np.ndarray, *,
                   content_layer: str | int | Layer,
                   style_layers: str | int | Layer | Sequence[str | int | Layer],
                   content_weight: float = 1.0, style_weight: float = 1e6, steps: int = 300,
                   learning_rate: float = 0.02, clip: tuple[float, float] | None = (0.0, 1.0),
                   x0: np.ndarray | None = None, return_history: bool = False
                   ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """An image with the content of ``content_image`` at ``content_layer`` and the style
    (Gram matrices) of ``style_image`` at each of ``style_layers`` (Gatys et al. 2016):
    minimise  content_weight * L_content + style_weight * mean_l E_l  (see
    ``style_transfer_loss``) over the pixels with Adam (chalknet.optimizers.Adam, the
    optimizer of the training chapter), clipping the pixels after each step. Starts from the
    content image unless ``x0`` is given (far fewer steps than starting from noise).

    Layers are names, indices or layer objects of ``model`` (see ``feature_extractor``).
    Returns the image (shaped like ``content_image``) and with ``return_history`` the total
    loss before each step and after the last."""
    from .optimizers import Adam

    loss_and_gradient = style_transfer_loss(
        model, content_image, style_image, content_layer=content_layer,
        style_layers=style_layers, content_weight=content_weight, style_weight=style_weight)
    start = content_image if x0 is None else x0
    image = _as_images(start, model, "style_transfer").copy()
    optimizer = Adam(learning_rate=learning_rate)
    history = []
    for _ in range(steps):
        value, gradient = loss_and_gradient(image)
        history.append(value)
        optimizer.apply_gradients([(gradient.astype(image.dtype), image)])
        if clip is not None:
            np.clip(image, clip[0], clip[1], out=image)
    history.append(loss_and_gradient(image)[0])
    result = image[0] if np.ndim(content_image) == len(model.input_shape) else image
    return (result, np.array(history)) if return_history else result


# ----- pictures (matplotlib, the optional "plot" extra) ---------------------------------------
def _new_figure(columns: int, rows: int, width: float, height: float):
    """A matplotlib Figure and its (rows, columns) grid of axes. Drawn on a bare ``Figure``,
    not through pyplot: no window opens, no backend is chosen for the user, nothing stays
    open (Jupyter still shows a returned Figure)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "chalknet.vision pictures need matplotlib: pip install matplotlib (or pip install "
            "'chalknet[plot]')"
        ) from None
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False)


def plot_images(images: np.ndarray | Sequence[np.ndarray],
                titles: Sequence[str] | None = None, *, columns: int | None = None,
                path: str | os.PathLike | None = None, suptitle: str | None = None,
                cmap: str = "gray", scale: float = 1.6) -> Figure:
    """A grid of images: an array (N, H, W[, 1]) or a list of (H, W[, 1]) images of any sizes,
    each drawn on its own min..max scale, with optional titles. Saves to ``path`` when given;
    returns the Figure."""
    pictures = [np.asarray(image, dtype=np.float64) for image in images]
    pictures = [p[..., 0] if p.ndim == 3 and p.shape[-1] == 1 else p for p in pictures]
    if not pictures or any(p.ndim != 2 for p in pictures):
        raise ValueError("vision.plot_images: expected grey images (N, H, W) or (N, H, W, 1), "
                         f"got shapes {[np.shape(image) for image in images][:4]}")
    count = len(pictures)
    columns = columns or min(count, 8)
    rows = -(-count // columns)
    figure, axes = _new_figure(columns, rows, scale * columns, scale * rows + 0.4)
    for position, axis in enumerate(axes.flat):
        axis.axis("off")
        if position >= count:
            continue
        picture = pictures[position]
        low, high = picture.min(), picture.max()
        axis.imshow((picture - low) / (high - low) if high > low else picture * 0, cmap=cmap,
                    vmin=0, vmax=1)
        if titles is not None:
            axis.set_title(str(titles[position]), fontsize=9)
    if suptitle:
        figure.suptitle(suptitle)
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def _first_conv(model):
    for layer in _model_layers(model, "plot_kernels"):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and kernel.ndim == 4:
            return layer
    raise ValueError(f"vision.plot_kernels: model {model.name!r} has no Conv2D layer")


def plot_kernels(model_or_layer: Sequential | Layer, *, channel: int = 0,
                 path: str | os.PathLike | None = None) -> Figure:
    """The kernels of a Conv2D layer (default: the model's first) as small pictures, one per
    filter, for input channel ``channel``. Blue-white-red: negative, zero, positive weights
    (each kernel on its own symmetric scale)."""
    layer = model_or_layer if isinstance(model_or_layer, Layer) and not hasattr(
        model_or_layer, "layers") else _first_conv(model_or_layer)
    kernel = getattr(layer, "kernel", None)
    if kernel is None or kernel.ndim != 4:
        raise ValueError(f"vision.plot_kernels: layer {layer.name!r} ({type(layer).__name__}) "
                         f"has no (kh, kw, in, out) kernel")
    if not 0 <= channel < kernel.shape[2]:
        raise ValueError(f"vision.plot_kernels: channel {channel} out of range for "
                         f"{kernel.shape[2]} input channels")
    filters = np.moveaxis(kernel[:, :, channel, :], -1, 0)  # (filters, kh, kw)
    columns = min(len(filters), 8)
    rows = -(-len(filters) // columns)
    figure, axes = _new_figure(columns, rows, 1.2 * columns, 1.2 * rows + 0.5)
    for position, axis in enumerate(axes.flat):
        axis.axis("off")
        if position < len(filters):
            limit = float(np.abs(filters[position]).max()) or 1.0
            axis.imshow(filters[position], cmap="bwr", vmin=-limit, vmax=limit)
    figure.suptitle(f"{layer.name}: {len(filters)} kernels {kernel.shape[0]}x{kernel.shape[1]}"
                    f" (blue < 0 < red)")
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def plot_feature_maps(model: Sequential, image: np.ndarray, layer: str | int | Layer, *,
                      max_maps: int = 32, path: str | os.PathLike | None = None) -> Figure:
    """The activations of ``layer`` for one image: one grey picture per channel (at most
    ``max_maps``), beside the image itself."""
    x = _as_images(image, model, "plot_feature_maps")[:1]
    maps = feature_extractor(model, layer).forward(x, training=False)[0]
    if maps.ndim != 3:
        raise ValueError(f"vision.plot_feature_maps: layer {layer!r} gives outputs of shape "
                         f"{maps.shape}, not feature maps (H, W, C)")
    maps = np.moveaxis(maps[..., :max_maps], -1, 0)
    images = [x[0], *maps]
    titles = ["input", *[f"#{index}" for index in range(len(maps))]]
    name = model.layers[layer_index(model, layer)].name
    return plot_images(images, titles, columns=min(len(images), 9), path=path,
                       suptitle=f"feature maps of {name}", scale=1.2)



# ----- the chapter: train the Keras MNIST convnet, then look inside it ------------------------
def mnist_convnet(name: str = "mnist_convnet") -> Sequential:
    """The Keras "simple MNIST convnet" (keras.io/examples/vision/mnist_convnet): conv32 3x3
    relu - maxpool 2 - conv64 3x3 relu - maxpool 2 - flatten - dropout 0.5 - dense10 softmax."""
    from . import layers

    return Sequential([
        Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def diagonal_stripes(size: int = 28, width: int = 3) -> np.ndarray:
    """A (size, size, 1) texture of diagonal black and white stripes: the chapter's style image
    (a texture a digit never has, so its style is easy to see)."""
    rows, columns = np.mgrid[0:size, 0:size]
    return (((rows + columns) // width) % 2).astype(np.float32)[..., None]


def cnn_chapter(output_dir: str | os.PathLike, quick: bool = False, *, epochs: int = 5,
                seed: int = 0, verbose: int = 2) -> dict:
    """The CNN chapter: train ``mnist_convnet`` on the 8,000 bundled MNIST digits (Adam,
    batch 128, ``epochs``; ``quick``: 1 epoch and shorter ascents), test it on the 2,000 others,
    then write into ``output_dir``: first-layer kernels, feature maps of a test digit, one
    image per class by activation maximisation, the patterns of 16 second-layer units,
    DeepDream on four test digits, and a style transfer (a digit in the style of stripes).
    Prints what to notice; returns the numbers (accuracy, epoch seconds, the class each
    maximisation image is predicted as, objective before/after for dream and style)."""
    import time
    from pathlib import Path

    from .datasets import mnist_mini
    from .utils import set_random_seed

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = mnist_mini.load_data()
    x_train = (x_train.astype("float32") / 255)[..., None]  # grey levels in [0, 1], NHWC
    x_test = (x_test.astype("float32") / 255)[..., None]
    if quick:
        epochs = 1
    model = mnist_convnet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=verbose)
    epoch_seconds = (time.perf_counter() - start) / epochs
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"[cnn] test accuracy {accuracy:.4f} on {len(x_test):,} digits after {epochs} "
          f"epoch(s) on {len(x_train):,} (seed {seed}, {epoch_seconds:.1f} s per epoch)")
    results = {"test_accuracy": float(accuracy), "epoch_seconds": epoch_seconds,
               "epochs": epochs, "seed": seed}
    results.update(_chapter_pictures(model, x_test, folder, quick))
    return results


def _chapter_pictures(model, x_test, folder, quick) -> dict:
    # The layers as objects: their names (conv2d, conv2d_1 in a fresh session) depend on how
    # many layers were made before.
    first, second = model.layers[0], model.layers[2]
    steps = 40 if quick else 150
    classes = list(range(10))
    drawn = maximize_class(model, classes, steps=steps, tv=0.5)
    predicted = model.predict(drawn)
    winners = [int(k) for k in predicted.argmax(axis=1)]
    print(f"[cnn] images grown by gradient ascent on each class score are classified as "
          f"{winners} (confidence {predicted.max(axis=1).min():.2f} or more)")
    # One unit at the centre of the second conv layer sees input rows and columns 10..17
    # (3x3 conv, 2x2 pool, 3x3 conv): only those pixels can change; the pictures show 8..19.
    filters = maximize_filter(model, second, list(range(16)), position="center",
                              steps=steps // 2, tv=0.1)[:, 8:20, 8:20]
    digits = x_test[:4]
    dreams = deep_dream(model, digits, second, steps=10 if quick else 25)
    second_output = feature_extractor(model, second)
    norm_before = float(np.mean(second_output.predict(digits) ** 2))
    norm_after = float(np.mean(second_output.predict(dreams) ** 2))
    print(f"[cnn] DeepDream on {second.name} raised its mean squared activation from "
          f"{norm_before:.3f} to {norm_after:.3f}: the strokes it half-sees grow")
    style = diagonal_stripes()
    styled, losses = style_transfer(model, x_test[3], style, content_layer=second,
                                    style_layers=[first, second],
                                    steps=60 if quick else 300, return_history=True)
    print(f"[cnn] style transfer: loss {losses[0]:.1f} -> {losses[-1]:.1f}; the digit keeps "
          f"its shape (content: {second.name}) and takes the stripes' texture (Gram "
          f"matrices of {first.name} and {second.name})")
    try:
        plot_kernels(model, path=folder / "kernels.png")
        plot_feature_maps(model, x_test[0], first, path=folder / "feature_maps.png")
        plot_images(drawn, [f"class {k}" for k in classes], columns=5,
                    path=folder / "class_maximization.png",
                    suptitle="What maximises each class score (pre-softmax)")
        plot_images(filters, [f"filter {k}" for k in range(16)], columns=8, scale=1.3,
                    path=folder / "filter_maximization.png",
                    suptitle=f"What excites the centre unit of {second.name}'s first 16 "
                             f"filters (its 12x12 surroundings)")
        plot_images([*digits, *dreams], [*["digit"] * 4, *["dream"] * 4], columns=4,
                    path=folder / "deep_dream.png", suptitle=f"DeepDream on {second.name}")
        plot_images([x_test[3], style, styled], ["content", "style", "result"], scale=2.2,
                    path=folder / "style_transfer.png", suptitle="Style transfer")
        pictures = sorted(str(path) for path in folder.glob("*.png"))
        print(f"[cnn] pictures written to {folder}")
    except ImportError as error:
        pictures = []
        print(f"[cnn] no pictures: {error}")
    return {"pictures": pictures, "class_image_predictions": winners,
            "dream_activation": (norm_before, norm_after),
            "style_loss": (float(losses[0]), float(losses[-1]))}
