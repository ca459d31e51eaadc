"""Recurrent layers: SimpleRNN, LSTM, GRU and the Bidirectional wrapper.

A recurrent layer reads a sequence (batch, time, features) one step at a time, carrying a
state from each step to the next.  The layer itself is configuration and weights; the whole
loop over time, forward and backward, is one call into :mod:`chalknet.ops` (the equations are
in :mod:`chalknet.reference.recurrent`, the version to read)::

    layer = LSTM(32, return_sequences=True)
    y = layer(x)              # (batch, time, 32); layer.forward(x, training, mask=...)
    dx = layer.backward(dy)   # dL/dx; dL/d(kernel, recurrent_kernel, bias) stored

Options as Keras: ``return_sequences`` (every step's output, else only the last),
``return_state`` (also return the final state(s): ``[output, h]``, for the LSTM
``[output, h, c]``; ``backward`` then takes a list of gradients, ``None`` for zero),
``go_backwards`` (read the sequence from the end; the returned sequence is reversed too),
``dropout`` (inverted dropout on the inputs while training, the same mask at every step).
``forward(x, initial_state=[h0, (c0)])`` starts from given states (an encoder's, in an
encoder-decoder); after ``backward``, ``layer.initial_state_gradients`` holds their
gradients.  Masks (from ``Embedding(mask_zero=True)`` or ``Masking``): a masked step keeps
the previous state and outputs zeros, as in Keras; the mask passes on with the sequence.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import initializers, ops
from ..utils.random import get_rng
from .base import Layer

if TYPE_CHECKING:
    from .base import ActivationLike, DTypeLike, InitializerLike

_KERNEL_ACTIVATIONS = ("tanh", "relu", "linear", "sigmoid", "hard_sigmoid")


def _activation_name(identifier, layer: str, what: str) -> str:
    """"tanh", None (= "linear"), or an activation object with a ``name``."""
    name = "linear" if identifier is None else getattr(identifier, "name", identifier)
    if name not in _KERNEL_ACTIVATIONS:
        raise ValueError(f"{layer}: {what} must be one of {list(_KERNEL_ACTIVATIONS)} "
                         f"(or None), got {identifier!r}")
    return name


def _check_rate(rate, layer: str, what: str) -> float:
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{layer}: {what} must be in [0, 1), got {rate}")
    return rate


class _UnitForgetBias(initializers.Initializer):
    """LSTM bias: zeros, except ones for the forget gate (Jozefowicz et al., 2015)."""

    def __init__(self, units: int, base: initializers.Initializer):
        self.units, self.base = units, base

    def __call__(self, shape: tuple[int, ...],
                 dtype: DTypeLike = np.float32) -> np.ndarray:
        bias = np.asarray(self.base(shape, dtype), dtype=dtype)
        bias[self.units:2 * self.units] = 1
        return bias


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share; subclasses name their op and state count."""

    _op = "simple_rnn"
    _gates = 1
    _state_count = 1  # h (and c for the LSTM)
    supports_masking = True
    uses_mask = True

    def __init__(self, units: int, activation: ActivationLike = "tanh",
                 recurrent_activation: ActivationLike = "sigmoid", use_bias: bool = True,
                 kernel_initializer: InitializerLike = "glorot_uniform",
                 recurrent_initializer: InitializerLike = "orthogonal",
                 bias_initializer: InitializerLike = "zeros", dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        kind = type(self).__name__
        if int(units) != units or int(units) < 1:
            raise ValueError(f"{kind}: units must be a positive integer, got {units!r}")
        if stateful:
            raise ValueError(f"{kind}: stateful=True is not supported; carry the state "
                             f"yourself with return_state=True and initial_state=")
        self.units = int(units)
        self.activation = _activation_name(activation, kind, "activation")
        self.recurrent_activation = _activation_name(recurrent_activation, kind,
                                                     "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout = _check_rate(dropout, kind, "dropout")
        if float(recurrent_dropout) != 0.0:
            raise ValueError(f"{kind}: recurrent_dropout is not supported (the recurrent "
                             f"kernels have no per-step mask); use dropout=, got "
                             f"{recurrent_dropout!r}")
        self.recurrent_dropout = 0.0
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.initial_state_gradients = None

    # ----- building ------------------------------------------------------------------------
    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"{self._describe()}: expected inputs (batch, time, features), "
                             f"got per-sample shape {tuple(input_shape)}")
        width = self._gates * self.units
        self.add_weight("kernel", (input_shape[-1], width), self.kernel_initializer)
        self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer)
        if self.use_bias:
            self.add_weight("bias", self._bias_shape(), self._bias_initializer())
        self.built = True

    def compute_output_shape(
            self, input_shape: tuple[int, ...]) -> tuple[int, ...] | list[tuple[int, ...]]:
        steps = input_shape[0]
        output = (steps, self.units) if self.return_sequences else (self.units,)
        if self.return_state:
            return [output] + [(self.units,)] * self._state_count
        return output

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        if mask is None or not self.return_sequences:
            return None
        mask = np.asarray(mask, dtype=bool)
        return mask[:, ::-1] if self.go_backwards else mask

    # ----- the two passes -----------------------------------------------------------------
    def __call__(self, x: np.ndarray, training: bool = False, mask: np.ndarray | None = None,
                 initial_state: np.ndarray | list[np.ndarray] | None = None,
                 ) -> np.ndarray | list[np.ndarray]:
        """``layer(x, mask=..., initial_state=...)`` as in Keras; builds on the first call."""
        return self.forward(x, training=training, mask=mask, initial_state=initial_state)

    def _describe(self):
        return f"{type(self).__name__} layer {self.name!r}"

    def _prepare(self, x, mask, initial_state):
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{self._describe()}: expected a numeric array, got dtype {x.dtype}")
        if x.ndim != 3:
            raise ValueError(f"{self._describe()}: expected inputs (batch, time, features), "
                             f"received shape {x.shape}")
        self.maybe_build(x.shape[1:])
        if x.shape[2] != self.kernel.shape[0]:
            raise ValueError(f"{self._describe()}: expected {self.kernel.shape[0]} features, "
                             f"shape (None, None, {self.kernel.shape[0]}), received {x.shape}")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != x.shape[:2]:
                raise ValueError(f"{self._describe()}: mask must have shape {x.shape[:2]} "
                                 f"(batch, time), got {mask.shape}")
        states = self._initial_states(x.shape[0], initial_state)
        return x, mask, states

    def _initial_states(self, batch, initial_state):
        if initial_state is None:
            return [np.zeros((batch, self.units), self.dtype)] * self._state_count
        if isinstance(initial_state, np.ndarray):
            initial_state = [initial_state]
        initial_state = list(initial_state)
        if len(initial_state) != self._state_count:
            raise ValueError(f"{self._describe()}: initial_state must be a list of "
                             f"{self._state_count} arrays, got {len(initial_state)}")
        states = [np.ascontiguousarray(s, dtype=self.dtype) for s in initial_state]
        for s in states:
            if s.shape != (batch, self.units):
                raise ValueError(f"{self._describe()}: initial_state arrays must have shape "
                                 f"{(batch, self.units)}, got {s.shape}")
        return states

    def _run(self, x, states, mask):
        """One op call: returns (outputs, [final states], cache)."""
        args = [x, *states, self.kernel, self.recurrent_kernel,
                self.bias if self.use_bias else None, mask, self.activation]
        if self._op != "simple_rnn":
            args.append(self.recurrent_activation)
        outputs, *finals, cache = getattr(ops, self._op)(*args)
        return outputs, finals, cache

    def forward(self, x: np.ndarray, training: bool = False, mask: np.ndarray | None = None,
                initial_state: np.ndarray | list[np.ndarray] | None = None,
                ) -> np.ndarray | list[np.ndarray]:
        x, mask, states = self._prepare(x, mask, initial_state)
        self._dropout_mask = None
        if training and self.dropout > 0:
            keep = get_rng().random((x.shape[0], 1, x.shape[2])) >= self.dropout
            self._dropout_mask = (keep / (1 - self.dropout)).astype(self.dtype)
            x = x * self._dropout_mask
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        outputs, finals, self._cache = self._run(x, states, mask)
        output = outputs if self.return_sequences else finals[0]
        if self.return_state:
            return [output, *finals]
        return output

    def _split_gradients(self, dy):
        """(d_output, [d_final_state, ...]) from ``dy`` (a list when return_state)."""
        if self.return_state:
            dy = list(dy)
            if len(dy) != 1 + self._state_count:
                raise ValueError(f"{self._describe()}: backward expects "
                                 f"{1 + self._state_count} gradients (output and states), "
                                 f"got {len(dy)}")
            return dy[0], dy[1:]
        return dy, [None] * self._state_count

    def backward(self, dy: np.ndarray | list[np.ndarray | None]) -> np.ndarray:
        if not hasattr(self, "_cache"):
            raise RuntimeError(f"{self._describe()}: call forward before backward")
        cache = self._cache
        d_output, d_finals = self._split_gradients(dy)
        states = cache["states"]
        if self.return_sequences:
            d_outputs = np.zeros_like(states) if d_output is None else d_output
        else:
            # The output is the final state h_T: its gradient joins dL/dh_T.
            d_outputs = np.zeros_like(states)
            if d_output is not None:
                d_output = np.asarray(d_output, dtype=self.dtype)
                if d_output.shape != states[:, -1].shape:
                    raise ValueError(f"{self._describe()}: dy must have shape "
                                     f"{states[:, -1].shape}, got {d_output.shape}")
                d_finals[0] = d_output if d_finals[0] is None else d_finals[0] + d_output
        grads = getattr(ops, f"{self._op}_backward")(d_outputs, *d_finals, cache)
        d_x, d_initial = grads[0], list(grads[1:1 + self._state_count])
        d_kernel, d_recurrent_kernel, d_bias = grads[1 + self._state_count:]
        self.set_gradient("kernel", d_kernel)
        self.set_gradient("recurrent_kernel", d_recurrent_kernel)
        if self.use_bias:
            self.set_gradient("bias", d_bias)
        self.initial_state_gradients = d_initial
        if self.go_backwards:
            d_x = d_x[:, ::-1]
        if self._dropout_mask is not None:
            d_x = d_x * self._dropout_mask
        return np.ascontiguousarray(d_x)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("units", "activation", "recurrent_activation", "use_bias",
                    "kernel_initializer", "recurrent_initializer", "bias_initializer",
                    "dropout", "recurrent_dropout", "return_sequences", "return_state",
                    "go_backwards"):
            config[key] = getattr(self, key)
        for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            if not isinstance(config[key], str):
                config[key] = type(config[key]).__name__
        return config


class SimpleRNN(_Recurrent):
    """Fully connected recurrent layer: h_t = activation(x_t W + h_{t-1} U + b).

    Weights (Keras's): kernel (features, units), recurrent_kernel (units, units), bias (units,).
    activation "tanh" (default) or "relu".
    """

    _op = "simple_rnn"
    _gates = 1

    def __init__(self, units: int, activation: ActivationLike = "tanh", **kwargs: Any):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class LSTM(_Recurrent):
    """Long short-term memory layer (gates i, f, c, o as Keras; equations in reference.lstm).

    Weights: kernel (features, 4 units), recurrent_kernel (units, 4 units), bias (4 units,).
    ``unit_forget_bias=True`` (default) starts the forget gate's bias at 1, so the cell
    remembers by default.  ``return_state`` returns [output, h, c].
    """

    _op = "lstm"
    _gates = 4
    _state_count = 2

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        return _UnitForgetBias(self.units, initializers.get(self.bias_initializer))

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_Recurrent):
    """Gated recurrent unit, Keras's default ``reset_after=True`` form (gates z, r, h;
    equations in reference.gru).

    Weights: kernel (features, 3 units), recurrent_kernel (units, 3 units),
    bias (2, 3 units) = input bias and recurrent bias.
    """

    _op = "gru"
    _gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any):
        if not reset_after:
            raise ValueError("GRU: only reset_after=True (Keras's default, the cuDNN form) is "
                             "supported")
        super().__init__(units, **kwargs)
        self.reset_after = True

    def _bias_shape(self):
        return (2, 3 * self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": True}


# ----- Bidirectional ----------------------------------------------------------------------


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Run a recurrent layer over the sequence forwards and a copy of it backwards, and merge.

    merge_mode: "concat" (default; features side by side), "sum", "mul", "ave" or None (a list
    [forward output, backward output]).  With return_sequences the backward layer's outputs
    are put back in time order before merging, so step t sees the past and the future.
    Weights: the forward layer's, then the backward layer's (``forward_kernel``, ...,
    ``backward_bias``).  With return_state the output is [merged, forward states...,
    backward states...].
    """

    uses_mask = True
    supports_masking = True

    def __init__(self, layer: _Recurrent, merge_mode: str | None = "concat",
                 backward_layer: _Recurrent | None = None, **kwargs: Any):
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional: layer must be a SimpleRNN, LSTM or GRU, got "
                            f"{type(layer).__name__}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {list(_MERGE_MODES)}, "
                             f"got {merge_mode!r}")
        kwargs.setdefault("dtype", layer.dtype.name)
        super().__init__(**kwargs)
        self.forward_layer = layer
        if backward_layer is None:
            backward_layer = copy.deepcopy(layer)
            backward_layer.dtype = layer.dtype  # the canonical dtype object, not a copy of it
            backward_layer.go_backwards = not layer.go_backwards
            backward_layer.name = f"backward_{layer.name}"
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def build(self, input_shape: tuple[int, ...]) -> None:
        for prefix, inner in (("forward", self.forward_layer),
                              ("backward", self.backward_layer)):
            inner.maybe_build(input_shape)
            for name in inner.weight_names:
                alias = f"{prefix}_{name}"
                setattr(self, alias, getattr(inner, name))  # the same array, updated in place
                self._weight_names.append(alias)
                self._trainable_flags[alias] = inner._trainable_flags.get(name, True)
        self.built = True

    def compute_output_shape(
            self, input_shape: tuple[int, ...],
    ) -> tuple[int, ...] | list[tuple[int, ...] | list[tuple[int, ...]]]:
        shapes = [self.forward_layer.compute_output_shape(input_shape),
                  self.backward_layer.compute_output_shape(input_shape)]
        if self.return_state:
            states = shapes[0][1:] + shapes[1][1:]
            shapes = [shapes[0][0], shapes[1][0]]
        output = shapes[0]
        if self.merge_mode == "concat":
            output = (*output[:-1], output[-1] + shapes[1][-1])
        elif self.merge_mode is None:
            output = shapes
        return [output, *states] if self.return_state else output

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        return None if mask is None or not self.return_sequences else mask

    def __call__(self, x: np.ndarray, training: bool = False, mask: np.ndarray | None = None,
                 initial_state: list[np.ndarray] | None = None) -> np.ndarray | list[np.ndarray]:
        return self.forward(x, training=training, mask=mask, initial_state=initial_state)

    def forward(self, x: np.ndarray, training: bool = False, mask: np.ndarray | None = None,
                initial_state: list[np.ndarray] | None = None) -> np.ndarray | list[np.ndarray]:
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"Bidirectional layer {self.name!r}: expected inputs (batch, time, "
                             f"features), received shape {x.shape}")
        self.maybe_build(x.shape[1:])
        forward_init = backward_init = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_init, backward_init = initial_state[:half], initial_state[half:]
        y_forward = self.forward_layer.forward(x, training, mask, forward_init)
        y_backward = self.backward_layer.forward(x, training, mask, backward_init)
        states = []
        if self.return_state:
            states = [*y_forward[1:], *y_backward[1:]]
            y_forward, y_backward = y_forward[0], y_backward[0]
        if self.return_sequences:
            y_backward = y_backward[:, ::-1]  # back into time order
        self._outputs = (y_forward, y_backward)
        merged = self._merge(y_forward, y_backward)
        return [merged, *states] if self.return_state else merged

    def _merge(self, a, b):
        if self.merge_mode == "concat":
            return np.concatenate([a, b], axis=-1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "mul":
            return a * b
        if self.merge_mode == "ave":
            return (a + b) / 2
        return [a, b]

    def _unmerge(self, dy):
        """(d_forward_output, d_backward_output) from dL/d(merged)."""
        y_forward, y_backward = self._outputs
        if self.merge_mode == "concat":
            units = y_forward.shape[-1]
            return dy[..., :units], dy[..., units:]
        if self.merge_mode == "sum":
            return dy, dy
        if self.merge_mode == "mul":
            return dy * y_backward, dy * y_forward
        if self.merge_mode == "ave":
            return dy / 2, dy / 2
        return dy[0], dy[1]

    def backward(self, dy: np.ndarray | list[np.ndarray]) -> np.ndarray:
        if not hasattr(self, "_outputs"):
            raise RuntimeError(f"Bidirectional layer {self.name!r}: call forward before backward")
        d_states = []
        if self.return_state:
            dy = list(dy)
            dy, d_states = dy[0], dy[1:]
        d_forward, d_backward = self._unmerge(np.asarray(dy) if self.merge_mode else dy)
        if self.return_sequences:
            d_backward = d_backward[:, ::-1]
        half = len(d_states) // 2
        if self.return_state:
            d_forward = [d_forward, *d_states[:half]]
            d_backward = [d_backward, *d_states[half:]]
        d_x = self.forward_layer.backward(d_forward) + self.backward_layer.backward(d_backward)
        for prefix, inner in (("forward", self.forward_layer),
                              ("backward", self.backward_layer)):
            for name, gradient in zip(inner.weight_names, inner.get_gradients(), strict=True):
                self.set_gradient(f"{prefix}_{name}", gradient)
        return d_x

    def get_config(self) -> dict:
        config = super().get_config()
        config["layer"] = {"class_name": type(self.forward_layer).__name__,
                           "config": self.forward_layer.get_config()}
        config["merge_mode"] = self.merge_mode
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        from .base import get_layer_class

        config = dict(config)
        inner = config.pop("layer")
        layer = get_layer_class(inner["class_name"]).from_config(inner["config"])
        return cls(layer, **config)
