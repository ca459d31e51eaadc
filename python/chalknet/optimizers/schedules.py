"""Learning-rate schedules (``chalknet.optimizers.schedules``): callables of the step number.

An optimizer given a schedule evaluates it at its ``iterations`` count before every update,
so step 0 uses ``schedule(0)``. Any plain function ``step -> learning rate`` works as well.
"""

from __future__ import annotations

import math


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class ExponentialDecay(LearningRateSchedule):
    """lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps), as Keras.

    With ``staircase=True`` the exponent is rounded down, so the rate drops in steps every
    ``decay_steps`` updates.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int | float,
                 decay_rate: float, staircase: bool = False, name: str = "ExponentialDecay"):
        if decay_steps <= 0:
            raise ValueError(f"ExponentialDecay: decay_steps must be > 0, got {decay_steps!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step: int) -> float:
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate**exponent

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


_CLASSES = {"ExponentialDecay": ExponentialDecay}


def deserialize(config: dict) -> LearningRateSchedule:
    name = config.get("class_name")
    if name not in _CLASSES:
        raise ValueError(f"unknown learning-rate schedule {name!r}; known: {sorted(_CLASSES)}")
    return _CLASSES[name](**config.get("config", {}))


__all__ = ["ExponentialDecay", "LearningRateSchedule", "deserialize"]
