"""The Layer protocol every chalknet layer follows.

A layer holds configuration and parameters; the math lives in :mod:`chalknet.ops`. The course
teaches backpropagation explicitly, so every layer has two passes that you can call by hand::

    y = layer.forward(x, training=True)   # also layer(x); caches what backward needs
    dx = layer.backward(dy)               # dy = dL/dy; returns dL/dx, stores dL/dweights
    layer.get_gradients()                 # [dL/dkernel, dL/dbias, ...] in get_weights() order

A layer builds itself on its first call, from the input shape (batch axis excluded), by
calling ``add_weight`` for each parameter in Keras's order.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from ..activations import ActivationFunction
    from ..initializers import Initializer
    from ..regularizers import Regularizer

    # What layers accept where Keras takes a name, a config dict or an object.
    InitializerLike: TypeAlias = str | dict | Initializer | Callable[..., np.ndarray]
    RegularizerLike: TypeAlias = str | dict | Regularizer | None
    ActivationLike: TypeAlias = str | ActivationFunction | None
    DTypeLike: TypeAlias = str | type | np.dtype

# Default names as Keras gives them: "dense", "dense_1", ... counted per snake_case prefix.
_name_counts: collections.Counter = collections.Counter()


def default_name(class_name: str) -> str:
    """Keras's default layer name: MaxPooling2D -> max_pooling2d, then max_pooling2d_1, ..."""
    words = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    prefix = re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


# Every Layer subclass, by class name: saving writes the name, loading looks the class up here.
_LAYER_CLASSES: dict[str, type] = {}


def get_layer_class(name: str) -> type:
    """The Layer subclass called ``name`` (used by ``load_model``)."""
    try:
        return _LAYER_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown layer class {name!r}; known: {sorted(_LAYER_CLASSES)}") from None

_DTYPES = {"float32": np.float32, "float64": np.float64}


def standardize_dtype(dtype: DTypeLike) -> np.dtype:
    """Map "float32"/"float64" (or the NumPy types) to a NumPy dtype; reject anything else."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(_DTYPES[name])


class Layer:
    """Base class: configuration, parameters, ``forward``/``backward`` and weight access.

    Subclasses implement ``build(input_shape)`` (create weights with ``add_weight``),
    ``compute_output_shape(input_shape)``, ``forward(x, training)`` and ``backward(dy)``.
    Shapes passed to ``build`` and ``compute_output_shape`` exclude the batch axis.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _LAYER_CLASSES[cls.__name__] = cls

    def __init__(self, name: str | None = None, dtype: DTypeLike = "float32",
                 trainable: bool = True, input_shape: Iterable[int] | None = None):
        self.name = name or default_name(type(self).__name__)
        self.dtype = standardize_dtype(dtype)
        self.trainable = trainable
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.built = False
        self._weight_names: list[str] = []
        self._trainable_flags: dict[str, bool] = {}
        self._regularizers: dict = {}
        self._gradients: dict[str, np.ndarray] = {}

    # ----- building -------------------------------------------------------------------------
    def build(self, input_shape: tuple[int, ...]) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis excluded)."""
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (batch axis excluded) for inputs of ``input_shape``."""
        return tuple(input_shape)

    def maybe_build(self, input_shape: tuple[int, ...]) -> None:
        if not self.built:
            declared = self.input_shape
            if declared is not None and tuple(declared) != tuple(input_shape):
                raise ValueError(
                    f"{self._describe()}: declared input_shape {tuple(declared)}, but the "
                    f"inputs have per-sample shape {tuple(input_shape)}"
                )
            self.input_shape = tuple(input_shape)
            self.build(tuple(input_shape))
            self.built = True

    def add_weight(self, name: str, shape: tuple[int, ...], initializer: InitializerLike = "zeros",
                   regularizer: Regularizer | None = None,
                   trainable: bool = True) -> np.ndarray:
        """Create parameter ``name`` (also set as an attribute) and register it, in order."""
        from .. import initializers

        value = initializers.get(initializer)(tuple(shape), self.dtype)
        value = np.array(value, dtype=self.dtype, order="C")  # keeps 0-d shapes (count)
        setattr(self, name, value)
        self._weight_names.append(name)
        self._trainable_flags[name] = trainable
        if regularizer is not None:
            self._regularizers[name] = regularizer
        return value

    # ----- the two passes -------------------------------------------------------------------
    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = np.asarray(x)
        self.maybe_build(x.shape[1:])
        return self.forward(x, training=training)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def set_gradient(self, name: str, value: np.ndarray) -> None:
        """Store dL/d(weight ``name``); called by ``backward``."""
        self._gradients[name] = value

    # ----- weights --------------------------------------------------------------------------
    @property
    def weight_names(self) -> list[str]:
        return list(self._weight_names)

    @property
    def trainable_weight_names(self) -> list[str]:
        if not self.trainable:
            return []
        return [n for n in self._weight_names if self._trainable_flags[n]]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters, in Keras's order."""
        return [getattr(self, n).copy() for n in self._weight_names]

    def set_weights(self, weights: Iterable[np.ndarray]) -> None:
        """Set the parameters from a list in ``get_weights()`` order (shapes must match)."""
        weights = list(weights)
        if len(weights) != len(self._weight_names):
            raise ValueError(
                f"{self.name}.set_weights: expected {len(self._weight_names)} arrays "
                f"({', '.join(self._weight_names)}), got {len(weights)}"
            )
        for name, value in zip(self._weight_names, weights, strict=True):
            current = getattr(self, name)
            value = np.asarray(value)
            if value.shape != current.shape:
                raise ValueError(
                    f"{self.name}.set_weights: {name} must have shape {current.shape}, "
                    f"got {value.shape}"
                )
            current[...] = value

    def get_gradients(self) -> list[np.ndarray]:
        """dL/dweight from the last ``backward``, in ``get_weights()`` order."""
        missing = [n for n in self._weight_names if n not in self._gradients]
        if missing:
            raise RuntimeError(f"{self.name}: no gradient yet for {missing}; call backward first")
        return [self._gradients[n] for n in self._weight_names]

    # ----- regularization (added to the loss by the model's training step) ---------------
    def regularization_loss(self) -> float:
        """Sum of the penalties of this layer's regularized weights (0.0 when there are none)."""
        return float(sum(reg(getattr(self, name)) for name, reg in self._regularizers.items()))

    def regularization_gradients(self) -> dict[str, np.ndarray]:
        """{weight name: d(penalty)/d(weight)} for each regularized weight."""
        return {name: reg.gradient(getattr(self, name)) for name, reg in self._regularizers.items()}

    # A model may set this to False on its first layer: nothing needs dL/d(input) there, and
    # layers whose input gradient costs a kernel call (Dense, Conv2D) then return None from
    # backward instead of computing it. Weight gradients are stored either way.
    needs_input_gradient = True

    # ----- masks (see DESIGN.md, "Engine interfaces") ---------------------------------------
    supports_masking = False  # True: the layer works per time step and passes the mask on
    uses_mask = False  # True: forward takes mask= (the model passes it only then)

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        """The mask of this layer's output: the incoming one if the layer supports masking."""
        return mask if self.supports_masking else None

    # ----- helpers for subclasses -----------------------------------------------------------
    def _prepare_input(self, x: np.ndarray, min_rank: int = 1) -> np.ndarray:
        """``x`` as an array of this layer's dtype, the layer built, the shape checked.

        The layer accepts any batch size; every other axis must match the shape it was built
        for (``min_rank`` counts the axes after the batch axis that the layer needs).
        """
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{self._describe()}: expected a numeric array, got dtype {x.dtype}")
        x = x.astype(self.dtype, copy=False)
        if x.ndim < min_rank + 1:
            raise ValueError(
                f"{self._describe()}: expected an input of rank >= {min_rank + 1} "
                f"(batch, ...), received shape {x.shape}"
            )
        self.maybe_build(x.shape[1:])
        self._check_input_shape(x.shape)
        return x

    def _check_input_shape(self, shape: tuple[int, ...]) -> None:
        expected = self.input_shape
        if expected is not None and tuple(shape[1:]) != tuple(expected):
            raise ValueError(
                f"{self._describe()}: expected input shape "
                f"(None, {', '.join(str(d) for d in expected)}), received {tuple(shape)}"
            )

    def _describe(self) -> str:
        return f"{type(self).__name__} layer {self.name!r}"

    def count_params(self) -> int:
        return int(sum(getattr(self, n).size for n in self._weight_names))

    def get_config(self) -> dict:
        """The constructor arguments that recreate this layer (used by saving)."""
        config = {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Recreate a layer from ``get_config()`` (weights are set separately)."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
