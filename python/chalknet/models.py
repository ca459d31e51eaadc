"""Models: ``Sequential``, a stack of layers with the same two passes as a single layer.

    model = chalknet.Sequential([chalknet.Input(shape=(784,)),
                                 layers.Dense(128, activation="relu"),
                                 layers.Dense(10, activation="softmax")])
    y = model.forward(x, training=True)   # each layer's forward, in order
    dx = model.backward(dy)               # each layer's backward, in reverse order

A model is itself a layer, so a model can sit inside another model (a GAN's combined model
holds the generator and the discriminator). Training (``compile``, ``fit``, ``evaluate``,
``predict``) lives in :mod:`chalknet.training`; saving in :mod:`chalknet.saving`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .layers.base import Layer, get_layer_class
from .layers.core import InputLayer
from .training import Trainer

if TYPE_CHECKING:
    from .losses import Loss


def Input(shape: int | tuple[int | None, ...], batch_size: int | None = None,
          dtype: str | np.dtype = "float32", name: str | None = None) -> InputLayer:
    """The model's input: ``chalknet.Input(shape=(28, 28, 1))`` as the first entry of a
    Sequential. ``shape`` excludes the batch axis, as in Keras. ``batch_size`` is accepted
    for Keras compatibility and ignored: every model takes any batch size."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if shape is None or not all(
            d is None or (isinstance(d, (int, np.integer)) and d > 0) for d in tuple(shape)):
        raise ValueError(f"Input: shape must be a tuple of positive integers or None (one "
                         f"sample, batch axis excluded), got {shape!r}")
    return InputLayer(shape=tuple(shape), dtype=dtype, name=name)


def _layer_compute_mask(layer, x, mask):
    """The mask of ``layer``'s output (see the masks interface in DESIGN.md)."""
    if hasattr(layer, "compute_mask"):
        return layer.compute_mask(x, mask)
    return mask if getattr(layer, "supports_masking", False) else None


class Model(Trainer, Layer):
    """Base class of chalknet models: a sequence of layers with forward/backward, weights,
    ``summary``, and the training methods of :class:`chalknet.training.Trainer`.

    The functional API (``Model(inputs, outputs)``) is not available yet; use ``Sequential``.
    """

    def __init__(self, *args: Any, name: str | None = None, trainable: bool = True,
                 **kwargs: Any):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise TypeError(
                "chalknet.Model(inputs, outputs): the functional API is not supported yet; "
                "build the network with chalknet.Sequential([...])"
            )
        self.layers: list[Layer] = []
        self._trainable = bool(trainable)
        self._output_shapes: list[tuple] = []
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.stop_training = False
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self._output_mask = None

    # ----- trainable: setting it on a model sets it on every layer inside, as Keras ----------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = bool(value)

    # ----- structure -------------------------------------------------------------------------
    def _leaf_layers(self, enclosing_trainable=True):
        """(layer, effectively trainable) for every non-model layer inside, in order."""
        trainable = enclosing_trainable and self.trainable
        for layer in self.layers:
            if isinstance(layer, Model):
                yield from layer._leaf_layers(trainable)
            else:
                yield layer, trainable and layer.trainable

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Build every layer in turn, each from the previous layer's output shape."""
        shape = tuple(input_shape)
        self.input_shape = shape
        self._output_shapes = []
        for layer in self.layers:
            shape = self._build_layer(layer, shape)
            self._output_shapes.append(shape)
        self.built = True

    def _build_layer(self, layer, shape) -> tuple:
        try:
            layer.maybe_build(shape)
            return tuple(layer.compute_output_shape(shape))
        except (ValueError, TypeError) as error:
            raise type(error)(
                f"{self.name}: cannot connect layer {layer.name!r} ({type(layer).__name__}) to "
                f"inputs of shape {(None, *shape)}: {error}"
            ) from error

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    @property
    def output_shape(self) -> tuple:
        if not self.built:
            raise ValueError(f"{self.name} has not been built yet; its output shape is unknown")
        shape = self._output_shapes[-1] if self._output_shapes else self.input_shape
        return (None, *shape)

    # ----- the two passes --------------------------------------------------------------------
    def _check_input(self, x: np.ndarray) -> None:
        expected = self.input_shape
        if x.ndim == 0 or len(x.shape) - 1 != len(expected) or any(
                e is not None and e != r for e, r in zip(expected, x.shape[1:], strict=True)):
            raise ValueError(
                f"{self.name}: expected inputs of shape {(None, *expected)} (batch first), "
                f"got an array of shape {x.shape}"
            )

    def forward(self, x: np.ndarray, training: bool = False,
                mask: np.ndarray | None = None) -> np.ndarray:
        """Run every layer's forward in order; returns the output. Caches for ``backward``."""
        x = np.asarray(x)
        if not self.built:
            if x.ndim == 0:
                raise ValueError(f"{self.name}: inputs need a batch axis, got a scalar")
            self.build(x.shape[1:])
        self._check_input(x)
        for layer in self.layers:
            if getattr(layer, "uses_mask", False):
                y = layer.forward(x, training=training, mask=mask)
            else:
                y = layer.forward(x, training=training)
            mask = _layer_compute_mask(layer, x, mask)
            x = y
        self._output_mask = mask
        return x

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.forward(x, training=training)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Run every layer's backward in reverse order, from dL/d(output); returns dL/d(input).

        Each layer stores its parameter gradients (read them with ``get_gradients``)."""
        return self._backward_from(len(self.layers) - 1, dy)

    def _backward_from(self, index: int, dy):
        for layer in reversed(self.layers[:index + 1]):
            dy = layer.backward(dy)
        return dy

    def _masked_targets(self, y_true, y_pred):
        """(y_true, y_pred, mask): when the output carries a (batch, time) mask, only the
        unmasked time steps, as rows; the loss then averages over the real steps only, as
        Keras does for masked sequences. Without a mask: the arrays unchanged and None."""
        mask = self._output_mask
        if mask is None or y_pred.ndim < 3 or np.shape(mask) != y_pred.shape[:2]:
            return y_true, y_pred, None
        y_true = np.asarray(y_true)
        if y_true.shape[:2] != y_pred.shape[:2]:
            raise ValueError(
                f"{self.name}: the output is masked per time step, so the targets need the "
                f"output's (batch, time) = {y_pred.shape[:2]} leading axes; got y of shape "
                f"{y_true.shape}"
            )
        mask = np.asarray(mask, dtype=bool)
        return y_true[mask], y_pred[mask], mask

    def _backward_loss(self, loss, y_true, y_pred):
        """Backpropagate ``loss(y_true, y_pred)`` from the output; returns dL/d(input).

        When the last layer applies an activation that the loss can fuse with (softmax with
        cross-entropy, sigmoid with binary cross-entropy), start from the stable dL/dz of the
        pre-activation z instead of dL/dy (see ``losses.preactivation_gradient``). Masked time
        steps get a zero gradient."""
        y_true, y_kept, mask = self._masked_targets(y_true, y_pred)

        def unmask(gradient):  # rows of kept steps -> the output's shape, zeros elsewhere
            if mask is None:
                return gradient
            full = np.zeros(y_pred.shape, dtype=gradient.dtype)
            full[mask] = gradient
            return full

        if not self.layers:
            return unmask(loss.gradient(y_true, y_kept))
        last = self.layers[-1]
        activation = getattr(last, "activation", None)
        fused = getattr(loss, "preactivation_gradient", None)
        if activation is not None and fused is not None and hasattr(
                last, "backward_preactivation"):
            dz = fused(y_true, y_kept, activation)
            if dz is not None:
                return self._backward_from(len(self.layers) - 2,
                                           last.backward_preactivation(unmask(dz)))
        return self.backward(unmask(loss.gradient(y_true, y_kept)))

    def input_gradient(self, x: np.ndarray, output_gradient: np.ndarray | None = None, *,
                       y_true: np.ndarray | None = None,
                       loss: str | Loss | None = None) -> np.ndarray:
        """dL/dx for inputs ``x`` (inference mode: dropout off), for saliency maps and
        adversarial examples. Give either ``output_gradient`` (dL/d(output), e.g. a one-hot
        array that selects a class score) or ``y_true`` with a ``loss`` (default: the compiled
        loss). The layers' stored parameter gradients are overwritten."""
        x = np.asarray(x)
        y_pred = self.forward(x, training=False)
        if output_gradient is not None:
            if y_true is not None or loss is not None:
                raise ValueError("input_gradient: give output_gradient, or y_true and a loss, "
                                 "not both")
            output_gradient = np.asarray(output_gradient, dtype=y_pred.dtype)
            if output_gradient.shape != y_pred.shape:
                raise ValueError(
                    f"input_gradient: output_gradient must have the output's shape "
                    f"{y_pred.shape}, got {output_gradient.shape}"
                )
            return self.backward(output_gradient)
        if y_true is None:
            raise ValueError("input_gradient: give output_gradient, or y_true (with a loss or "
                             "a compiled model)")
        from . import losses

        loss = losses.get(loss) if loss is not None else self.loss
        if loss is None:
            raise ValueError("input_gradient: no loss given and the model is not compiled")
        return self._backward_loss(loss, y_true, y_pred)

    uses_mask = True  # a model inside a model receives the incoming mask

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        """The mask of the last forward's output (a model inside a model passes it on)."""
        return self._output_mask

    # ----- weights ---------------------------------------------------------------------------
    @property
    def weight_names(self) -> list[str]:
        return [f"{layer.name}/{name}" for layer in self.layers for name in layer.weight_names]

    @property
    def trainable_weight_names(self) -> list[str]:
        return [f"{layer.name}/{name}" for layer, trainable in self._leaf_layers() if trainable
                for name in layer.weight_names if layer._trainable_flags.get(name, True)]

    @property
    def weights(self) -> list[np.ndarray]:
        """Every parameter array itself (not a copy), in ``get_weights()`` order."""
        return [getattr(layer, name) for layer, _ in self._leaf_layers()
                for name in layer.weight_names]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The parameter arrays the current trainable flags let an optimizer change."""
        return [getattr(layer, name) for layer, trainable in self._leaf_layers() if trainable
                for name in layer.weight_names if layer._trainable_flags.get(name, True)]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by position (``model.get_layer("conv2d")``), as Keras."""
        if (name is None) == (index is None):
            raise ValueError(f"{self.name}.get_layer: give either name or index")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"{self.name}.get_layer: index {index} out of range; the "
                                 f"model has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.name}.get_layer: no layer named {name!r}; layers: "
                         f"{[layer.name for layer in self.layers]}")

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's parameters, layer by layer in Keras's order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Iterable[np.ndarray]) -> None:
        """Set all parameters from a list in ``get_weights()`` order."""
        weights = list(weights)
        expected = len(self.weight_names)
        if len(weights) != expected:
            raise ValueError(
                f"{self.name}.set_weights: expected {expected} arrays, got {len(weights)}"
                + ("" if self.built else " (the model is not built yet)")
            )
        position = 0
        for layer in self.layers:
            count = len(layer.weight_names)
            layer.set_weights(weights[position:position + count])
            position += count

    def get_gradients(self) -> list[np.ndarray]:
        """dL/dweight of every layer from the last ``backward``, in ``get_weights()`` order."""
        return [g for layer in self.layers for g in layer.get_gradients()]

    def count_params(self) -> int:
        return int(sum(layer.count_params() for layer in self.layers))

    def _param_counts(self) -> tuple[int, int]:
        """(trainable, non-trainable) parameter counts, from the current trainable flags."""
        trainable = non_trainable = 0
        for layer, layer_trainable in self._leaf_layers():
            for name in layer.weight_names:
                size = getattr(layer, name).size
                if layer_trainable and layer._trainable_flags.get(name, True):
                    trainable += size
                else:
                    non_trainable += size
        return trainable, non_trainable

    # ----- summary ---------------------------------------------------------------------------
    def summary(self, line_length: int | None = None,
                print_fn: Callable[[str], Any] | None = None) -> None:
        """Print Keras's table: each layer's name (type), output shape and parameter count,
        then the totals. ``print_fn`` (default ``print``) is called once per line."""
        if not self.built:
            raise ValueError(
                f"{self.name} has not been built yet, so its summary is unknown: start the "
                "model with chalknet.Input(shape=...), give the first layer input_shape=..., "
                "or call the model on a batch of data first"
            )
        print_fn = print_fn or print
        names = [f" {layer.name} ({type(layer).__name__})" for layer in self.layers]
        shapes = [str((None, *shape)) for shape in self._output_shapes]
        # Keras's proportions (45 % / 33 % / the rest of 65 characters), widened to fit.
        columns = [max([29, *(len(n) + 2 for n in names)]),
                   max([26, *(len(s) + 2 for s in shapes)]), 10]
        width = max(line_length or 0, sum(columns))
        columns[2] = width - columns[0] - columns[1]

        def row(name, shape, params):
            cells = (f" {name}", str(shape), f"{params:>{columns[2] - 1}}")
            return "".join(cell.ljust(size) if i < 2 else cell for i, (cell, size) in
                           enumerate(zip(cells, columns, strict=True))).rstrip()

        trainable, non_trainable = self._param_counts()
        lines = [f'Model: "{self.name}"', "_" * width,
                 row("Layer (type)", "Output Shape", "Param #"), "=" * width]
        for index, (layer, shape) in enumerate(zip(self.layers, self._output_shapes,
                                                   strict=True)):
            lines.append(row(f"{layer.name} ({type(layer).__name__})", (None, *shape),
                             f"{layer.count_params():,}"))
            lines.append("=" * width if index == len(self.layers) - 1 else "_" * width)
        if not self.layers:
            lines.append("=" * width)
        bytes_per = self.dtype.itemsize
        lines += [f"Total params: {trainable + non_trainable:,} "
                  f"({_human_bytes((trainable + non_trainable) * bytes_per)})",
                  f"Trainable params: {trainable:,} ({_human_bytes(trainable * bytes_per)})",
                  f"Non-trainable params: {non_trainable:,} "
                  f"({_human_bytes(non_trainable * bytes_per)})",
                  "_" * width]
        for line in lines:
            print_fn(line)

    # ----- configuration and saving ----------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable,
                  "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                             for layer in self.layers]}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Model:
        config = dict(config)
        layer_configs = config.pop("layers", [])
        input_shape = config.pop("input_shape", None)
        model = cls(name=config.get("name"))
        if input_shape is not None:
            model.add(Input(shape=tuple(input_shape)))
        for entry in layer_configs:
            model.add(get_layer_class(entry["class_name"]).from_config(entry["config"]))
        # Set the model's own flag only: each layer's flag was restored from its own config.
        model._trainable = bool(config.get("trainable", True))
        return model

    def save(self, filepath: str | os.PathLike, include_optimizer: bool = True) -> None:
        """Write the architecture, weights and (optionally) optimizer state to one file."""
        from .saving import save_model

        save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath: str | os.PathLike) -> None:
        from .saving import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath: str | os.PathLike) -> None:
        from .saving import load_weights

        load_weights(self, filepath)


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


class Sequential(Model):
    """A plain stack of layers: ``Sequential([layer, ...])`` or ``add`` one at a time.

    The input shape comes from a leading ``chalknet.Input(shape=...)``, from ``input_shape=``
    on the first layer, or from the first batch the model sees; once it is known every layer
    is built in turn and ``summary()`` works.
    """

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append a layer (or a model); build it now when the input shape is known."""
        if not isinstance(layer, Layer):
            raise TypeError(
                f"{self.name}.add: expected a chalknet layer (or model), got "
                f"{type(layer).__name__}"
            )
        if isinstance(layer, InputLayer):
            if self.layers or self.input_shape is not None:
                raise ValueError(f"{self.name}.add: an Input can only be the first entry")
            self.input_shape = layer.input_shape
            return
        if self.input_shape is None and not self.layers and layer.input_shape is not None:
            self.input_shape = tuple(layer.input_shape)
        self.layers.append(layer)
        if self.input_shape is not None:
            previous = self._output_shapes[-1] if self._output_shapes else self.input_shape
            if len(self._output_shapes) == len(self.layers) - 1:
                self._output_shapes.append(self._build_layer(layer, previous))
                self.built = True
            else:
                self.build(self.input_shape)

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise IndexError(f"{self.name}.pop: the model has no layers")
        if len(self._output_shapes) == len(self.layers):
            self._output_shapes.pop()
        return self.layers.pop()


def load_model(filepath: str | os.PathLike, compile: bool = True) -> Model:
    """Read a model written by ``model.save`` (architecture, weights, optimizer state)."""
    from .saving import load_model as _load

    return _load(filepath, compile=compile)


__all__ = ["Input", "Model", "Sequential", "load_model"]
