"""Optimizers with Keras's names, defaults and update rules.

An optimizer changes each trainable parameter in place from its gradient::

    optimizer.apply_gradients([(d_kernel, layer.kernel), (d_bias, layer.bias)])

Each rule is one short function below (``sgd_update``, ``adam_update``, ...) written as the
course writes it; the classes only keep the per-parameter state (velocities, moments) and the
learning rate. The rules follow Keras 3 (``keras/src/optimizers/*.py``) so that a model trained
here and there takes the same steps:

- SGD with momentum (Polyak 1964) and Nesterov momentum (Sutskever et al. 2013):
      v <- momentum * v - lr * g ;  w <- w + v                          (classical)
      v <- momentum * v - lr * g ;  w <- w + momentum * v - lr * g      (Nesterov)
- Adagrad (Duchi et al. 2011):  s <- s + g^2 ;  w <- w - lr * g / sqrt(s + eps)
- RMSprop (Hinton, lecture 6e):  s <- rho * s + (1 - rho) * g^2 ;  w <- w - lr * g / sqrt(s + eps)
- Adam (Kingma & Ba 2015, Algorithm 1 with the step size of Section 2's last paragraph):
      m <- b1 * m + (1 - b1) * g ;  v <- b2 * v + (1 - b2) * g^2
      w <- w - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
- AdamW (Loshchilov & Hutter 2019): w <- w - lr * weight_decay * w, then the Adam step.

Gradients can be clipped first: ``clipnorm`` scales each gradient whose L2 norm exceeds it,
``global_clipnorm`` scales all of them together by their joint norm, ``clipvalue`` clips each
element to [-clipvalue, clipvalue] (at most one of the three, as Keras).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import schedules
from .schedules import LearningRateSchedule

# ----- the update rules, one function each -----------------------------------------------------


def sgd_update(w: np.ndarray, g: np.ndarray, lr: float) -> None:
    """Plain gradient descent: w <- w - lr * g."""
    w -= lr * g


def momentum_update(w: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float,
                    momentum: float, nesterov: bool) -> None:
    """SGD with momentum; ``velocity`` is the running step (Keras keeps it as "momentum")."""
    velocity *= momentum
    velocity -= lr * g  # v <- momentum * v - lr * g
    if nesterov:
        # Look ahead: take the step the velocity is about to take, plus the fresh gradient step.
        w += momentum * velocity - lr * g
    else:
        w += velocity


def adagrad_update(w: np.ndarray, g: np.ndarray, accumulator: np.ndarray, lr: float,
                   epsilon: float) -> None:
    """Adagrad: each weight's step shrinks with the sum of its squared gradients so far."""
    accumulator += g * g
    w -= lr * g / np.sqrt(accumulator + epsilon)


def rmsprop_update(w: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float, rho: float,
                   epsilon: float, momentum: float = 0.0, step: np.ndarray | None = None,
                   average_gradient: np.ndarray | None = None) -> None:
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    ``centered`` RMSprop (``average_gradient`` given) divides by an estimate of the variance
    instead: E[g^2] - E[g]^2. With ``momentum`` the scaled gradients are accumulated in ``step``.
    """
    velocity *= rho
    velocity += (1.0 - rho) * g * g  # E[g^2]
    denominator = velocity + epsilon
    if average_gradient is not None:
        average_gradient *= rho
        average_gradient += (1.0 - rho) * g  # E[g]
        denominator = velocity - average_gradient * average_gradient + epsilon
    increment = lr * g / np.sqrt(denominator)
    if step is not None:
        step *= momentum
        step += increment
        w -= step
    else:
        w -= increment


def adam_update(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float,
                beta_1: float, beta_2: float, epsilon: float, t: int,
                v_max: np.ndarray | None = None) -> None:
    """Adam at step ``t`` (1, 2, ...): moving averages of g and g^2, bias-corrected.

    The two bias corrections are folded into the step size (Kingma & Ba, end of Section 2),
    so epsilon is added to sqrt(v) rather than to sqrt(v_hat), exactly as Keras does.
    With AMSGrad (``v_max`` given) the denominator uses the largest v seen so far.
    """
    m += (1.0 - beta_1) * (g - m)  # m <- b1 m + (1 - b1) g
    v += (1.0 - beta_2) * (g * g - v)  # v <- b2 v + (1 - b2) g^2
    step_size = lr * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
        v = v_max
    w -= step_size * m / (np.sqrt(v) + epsilon)


def decoupled_weight_decay(w: np.ndarray, lr: float, weight_decay: float) -> None:
    """AdamW's decay, applied to the weight itself, not through the gradient: w <- w - lr*wd*w."""
    w -= lr * weight_decay * w


# ----- clipping ----------------------------------------------------------------------------------


def clip_by_norm(g: np.ndarray, max_norm: float) -> np.ndarray:
    """g scaled down to L2 norm ``max_norm`` when it is longer; unchanged otherwise."""
    norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
    return g * (max_norm / norm) if norm > max_norm else g


def clip_by_global_norm(grads: Iterable[np.ndarray], max_norm: float) -> list[np.ndarray]:
    """All gradients scaled by one factor so that their joint L2 norm is at most ``max_norm``."""
    total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
    if total <= max_norm:
        return list(grads)
    return [g * (max_norm / total) for g in grads]


# ----- the classes -------------------------------------------------------------------------------


class Optimizer:
    """Base class: learning rate (constant or schedule), clipping, per-variable state.

    Subclasses define ``_slot_names`` (the state each variable carries) and ``_update``.
    State is created for each variable the first time it is seen and kept in that order
    (``variables``), which is also the order ``get_state``/``set_state`` use.
    """

    _slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float | LearningRateSchedule | Callable[[int], float] = 0.001,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 name: str | None = None):
        set_options = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                      ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(set_options) > 1:
            raise ValueError(
                f"{type(self).__name__}: only one of clipnorm, clipvalue and global_clipnorm "
                f"can be set, got {', '.join(set_options)}"
            )
        for option, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                              ("global_clipnorm", global_clipnorm)):
            if value is not None and not value > 0:
                raise ValueError(f"{type(self).__name__}: {option} must be > 0, got {value!r}")
        self.name = name or type(self).__name__.lower()
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.iterations = 0
        self._learning_rate = self._check_learning_rate(learning_rate)
        self._variables: list[np.ndarray] = []
        self._slots: dict[int, dict[str, np.ndarray]] = {}

    # ----- learning rate ---------------------------------------------------------------------
    def _check_learning_rate(self, learning_rate):
        if callable(learning_rate):  # a LearningRateSchedule or any function of the step
            return learning_rate
        try:
            value = float(learning_rate)
        except (TypeError, ValueError):
            raise TypeError(
                f"{type(self).__name__}: learning_rate must be a number, a LearningRateSchedule "
                f"or a callable of the step, got {type(learning_rate).__name__}"
            ) from None
        if not value >= 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be >= 0, got {value}")
        return value

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule is evaluated at ``iterations``)."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | LearningRateSchedule | Callable[[int], float]) -> None:
        if callable(self._learning_rate) and not callable(value):
            raise TypeError(
                f"{type(self).__name__}: this optimizer's learning rate comes from a schedule "
                f"({type(self._learning_rate).__name__}); it cannot be set to a number. "
                "Create the optimizer with a float learning_rate to change it from callbacks."
            )
        self._learning_rate = self._check_learning_rate(value)

    # ----- state -----------------------------------------------------------------------------
    @property
    def variables(self) -> list[np.ndarray]:
        """The variables this optimizer has state for, in the order they were first seen."""
        return list(self._variables)

    def build(self, variables: Iterable[np.ndarray]) -> None:
        """Create the state of ``variables`` now (otherwise it is created on first use)."""
        for variable in variables:
            self._slots_for(variable)

    def _slots_for(self, variable: np.ndarray) -> dict[str, np.ndarray]:
        key = id(variable)
        if key not in self._slots:
            self._variables.append(variable)  # the reference keeps id(variable) unique
            self._slots[key] = {name: self._initial_slot(name, variable)
                                for name in self._slot_names}
        return self._slots[key]

    def _initial_slot(self, name: str, variable: np.ndarray) -> np.ndarray:
        return np.zeros_like(variable)

    def get_state(self) -> list[np.ndarray]:
        """[iterations, then each variable's slots in ``variables`` order]: for saving."""
        state = [np.array(self.iterations, dtype=np.int64)]
        for variable in self._variables:
            slots = self._slots[id(variable)]
            state.extend(slots[name] for name in self._slot_names)
        return state

    def set_state(self, state: Iterable[np.ndarray], variables: Iterable[np.ndarray]) -> None:
        """Restore ``get_state()`` output for ``variables`` (the same variables, same order)."""
        state = list(state)
        variables = list(variables)
        expected = 1 + len(variables) * len(self._slot_names)
        if len(state) != expected:
            raise ValueError(
                f"{type(self).__name__}.set_state: expected {expected} arrays for "
                f"{len(variables)} variables, got {len(state)}"
            )
        self._variables, self._slots = [], {}
        position = 1
        for variable in variables:
            slots = self._slots_for(variable)
            for name in self._slot_names:
                value = np.asarray(state[position])
                if value.shape != slots[name].shape:
                    raise ValueError(
                        f"{type(self).__name__}.set_state: slot {name!r} of a variable of "
                        f"shape {variable.shape} has shape {value.shape}"
                    )
                slots[name][...] = value
                position += 1
        self.iterations = int(state[0])

    # ----- the step --------------------------------------------------------------------------
    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        """Update each variable in place from its gradient, then count one iteration."""
        pairs = list(grads_and_vars)
        for g, w in pairs:
            if not isinstance(w, np.ndarray):
                raise TypeError(
                    f"{type(self).__name__}.apply_gradients: variables must be NumPy arrays "
                    f"(updated in place), got {type(w).__name__}"
                )
            if np.shape(g) != w.shape:
                raise ValueError(
                    f"{type(self).__name__}.apply_gradients: gradient of shape {np.shape(g)} "
                    f"for a variable of shape {w.shape}"
                )
        grads = self._clip([np.asarray(g, dtype=w.dtype) for g, w in pairs])
        lr = self.learning_rate
        for g, (_, w) in zip(grads, pairs, strict=True):
            slots = self._slots_for(w)
            if self.weight_decay:
                decoupled_weight_decay(w, lr, self.weight_decay)
            self._update(w, g, slots, lr)
        self.iterations += 1

    def _update(self, w, g, slots, lr) -> None:
        raise NotImplementedError

    # ----- configuration ---------------------------------------------------------------------
    def get_config(self) -> dict:
        learning_rate = self._learning_rate
        if isinstance(learning_rate, LearningRateSchedule):
            learning_rate = {"class_name": type(learning_rate).__name__,
                             "config": learning_rate.get_config()}
        elif callable(learning_rate):
            learning_rate = None  # an arbitrary function cannot be written to JSON
        return {"name": self.name, "learning_rate": learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        config = dict(config)
        learning_rate = config.get("learning_rate")
        if isinstance(learning_rate, dict):
            config["learning_rate"] = schedules.deserialize(learning_rate)
        elif learning_rate is None:
            config.pop("learning_rate", None)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} learning_rate={self._learning_rate!r}>"


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum. Keras defaults: lr 0.01, momentum 0."""

    def __init__(self, learning_rate: float | LearningRateSchedule | Callable[[int], float] = 0.01,
                 momentum: float = 0.0, nesterov: bool = False, **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum > 0 else ()

    def _update(self, w, g, slots, lr):
        if self.momentum > 0:
            momentum_update(w, g, slots["momentum"], lr, self.momentum, self.nesterov)
        else:
            sgd_update(w, g, lr)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """Adagrad. Keras defaults: lr 0.001, initial_accumulator_value 0.1, epsilon 1e-7."""

    _slot_names = ("accumulator",)

    def __init__(self, learning_rate: float | LearningRateSchedule | Callable[[int], float] = 0.001,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _initial_slot(self, name, variable):
        return np.full_like(variable, self.initial_accumulator_value)

    def _update(self, w, g, slots, lr):
        adagrad_update(w, g, slots["accumulator"], lr, self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop. Keras defaults: lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered False."""

    def __init__(self, learning_rate: float | LearningRateSchedule | Callable[[int], float] = 0.001,
                 rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
                 centered: bool = False, **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        self._slot_names = ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + (
            ("average_gradient",) if self.centered else ())

    def _update(self, w, g, slots, lr):
        rmsprop_update(w, g, slots["velocity"], lr, self.rho, self.epsilon,
                       momentum=self.momentum, step=slots.get("momentum"),
                       average_gradient=slots.get("average_gradient"))

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam. Keras defaults: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad False."""

    def __init__(self, learning_rate: float | LearningRateSchedule | Callable[[int], float] = 0.001,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)
        self._slot_names = ("m", "v") + (("v_max",) if self.amsgrad else ())

    def _update(self, w, g, slots, lr):
        adam_update(w, g, slots["m"], slots["v"], lr, self.beta_1, self.beta_2, self.epsilon,
                    t=self.iterations + 1, v_max=slots.get("v_max"))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay. Keras defaults: Adam's, and weight_decay 0.004."""

    def __init__(self, learning_rate: float | LearningRateSchedule | Callable[[int], float] = 0.001,
                 weight_decay: float = 0.004, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number (use Adam for no decay)")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


_ALIASES = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}
_CLASSES = {cls.__name__: cls for cls in _ALIASES.values()}


def get(identifier: str | dict | Optimizer) -> Optimizer:
    """An optimizer from a Keras name ("adam", "sgd", ...), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"unknown optimizer {identifier!r}; known: {', '.join(sorted(_ALIASES))}"
            )
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    raise TypeError(
        f"optimizer must be a name such as 'adam', or an Optimizer instance, "
        f"got {type(identifier).__name__}"
    )


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    name = config.get("class_name")
    if name not in _CLASSES:
        raise ValueError(f"unknown optimizer class {name!r}; known: {', '.join(sorted(_CLASSES))}")
    return _CLASSES[name].from_config(config.get("config", {}))


__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "deserialize", "get",
           "schedules", "serialize"]
