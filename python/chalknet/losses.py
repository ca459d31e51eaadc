"""Loss functions with Keras's names and string aliases.

Every loss is an object with

* ``loss(y_true, y_pred) -> float``: the mean over the batch (and over any other non-class
  axes), as Keras reduces it;
* ``loss.gradient(y_true, y_pred) -> dL/dy_pred``: same shape as ``y_pred``, already divided by
  the number of terms in the mean, so it is exactly the derivative of the float above;
* ``loss.preactivation_gradient(y_true, y_pred, activation) -> dL/dz or None``: when the last
  layer's activation is softmax (with a categorical cross-entropy) or sigmoid (with the binary
  one), the gradient with respect to the pre-activation z is simply ``y_pred - y_true``
  (divided by the batch size). The training step uses it when it is not None: it is cheaper and
  it never divides by a probability that has rounded to 0. Why it is so simple:

  Softmax + categorical cross-entropy. With p = softmax(z) and L = -sum_i y_i log p_i,
      dL/dp_i = -y_i / p_i                  and    dp_i/dz_j = p_i (delta_ij - p_j),
  so  dL/dz_j = sum_i (-y_i / p_i) p_i (delta_ij - p_j) = -y_j + p_j sum_i y_i = p_j - y_j,
  because a one-hot (or any probability) label sums to 1.

  Sigmoid + binary cross-entropy. With p = sigmoid(z), dp/dz = p (1 - p) and
  L = -(y log p + (1 - y) log(1 - p)),
      dL/dp = (p - y) / (p (1 - p))   so   dL/dz = dL/dp * dp/dz = p - y.

Labels and predictions must have the same shape, except that a label vector (N,) is accepted
for predictions (N, 1) (and vice versa), and sparse labels are integers of shape (N,) or (N, 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .activations import sigmoid as _sigmoid
from .activations import softmax as _softmax

if TYPE_CHECKING:
    from .activations import ActivationFunction

# Probabilities are clipped to [EPSILON, 1 - EPSILON] before a log, as Keras does (1e-7), so
# log(0) never happens; the gradient is taken at the clipped value (a saturated wrong answer
# still gets a finite push in the right direction instead of a zero or an infinity).
EPSILON = 1e-7


def _as_float(x, name, loss):
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{loss}: {name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    return arr


def _match_shapes(y_true, y_pred, loss):
    """y_true reshaped to y_pred's shape when only a trailing 1 differs; else an error."""
    y_pred = _as_float(y_pred, "y_pred", loss)
    y_true = _as_float(y_true, "y_true", loss)
    if y_true.shape != y_pred.shape:
        squeeze = [d for d in y_true.shape if d != 1] == [d for d in y_pred.shape if d != 1]
        if y_true.size != y_pred.size or not squeeze or y_pred.ndim == 0:
            raise ValueError(
                f"{loss}: y_true and y_pred must have the same shape, got y_true {y_true.shape} "
                f"and y_pred {y_pred.shape}"
            )
        y_true = y_true.reshape(y_pred.shape)
    if y_pred.ndim == 0:
        raise ValueError(f"{loss}: y_pred must have a batch axis, got a scalar")
    return y_true.astype(y_pred.dtype, copy=False), y_pred


def _check_smoothing(label_smoothing, loss) -> float:
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{loss}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _samples(y_pred) -> int:
    """Terms in the batch mean of a per-sample loss reduced over the last (class) axis."""
    return max(int(y_pred.size // y_pred.shape[-1]), 1) if y_pred.ndim > 1 else 1


class Loss:
    """Base class. Subclasses implement ``__call__`` and ``gradient``."""

    name = "loss"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def preactivation_gradient(self, y_true: np.ndarray, y_pred: np.ndarray,
                               activation: ActivationFunction | None) -> np.ndarray | None:
        """dL/dz for the fused activation+loss pairs (see the module docstring), else None."""
        return None

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)**2);  dL/dy_pred = 2 (y_pred - y_true) / (number of entries)."""

    name = "mean_squared_error"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        y_true, y_pred = _match_shapes(y_true, y_pred, "MeanSquaredError")
        return float(np.mean(np.square(y_pred - y_true)))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true, y_pred = _match_shapes(y_true, y_pred, "MeanSquaredError")
        return 2.0 * (y_pred - y_true) / y_pred.size


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|);  dL/dy_pred = sign(y_pred - y_true) / (number of entries)."""

    name = "mean_absolute_error"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        y_true, y_pred = _match_shapes(y_true, y_pred, "MeanAbsoluteError")
        return float(np.mean(np.abs(y_pred - y_true)))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true, y_pred = _match_shapes(y_true, y_pred, "MeanAbsoluteError")
        return np.sign(y_pred - y_true) / y_pred.size


class BinaryCrossentropy(Loss):
    """-mean(y log p + (1 - y) log(1 - p)) over every entry (one or more independent yes/no
    outputs per sample).

    from_logits=False: y_pred are probabilities p, clipped to [1e-7, 1 - 1e-7] before the logs.
    from_logits=True:  y_pred are logits z, p = sigmoid(z), and the loss is computed as
    max(z, 0) - z y + log(1 + exp(-|z|)), which equals the formula above without ever forming
    log(sigmoid(z)) (that would be log(0) for z = -1000).
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0):
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing, "BinaryCrossentropy")

    def _labels(self, y_true, y_pred):
        """Labels pulled towards 1/2 by label_smoothing: y (1 - s) + s / 2 (as Keras)."""
        y_true, y_pred = _match_shapes(y_true, y_pred, "BinaryCrossentropy")
        if self.label_smoothing:
            y_true = y_true * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y_true, y_pred

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        y_true, y_pred = self._labels(y_true, y_pred)
        if self.from_logits:
            z = y_pred
            terms = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            terms = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
        return float(np.mean(terms))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true, y_pred = self._labels(y_true, y_pred)
        if self.from_logits:
            return (_sigmoid(y_pred) - y_true) / y_pred.size
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return (p - y_true) / (p * (1 - p)) / y_pred.size

    def preactivation_gradient(self, y_true: np.ndarray, y_pred: np.ndarray,
                               activation: ActivationFunction | None) -> np.ndarray | None:
        if self.from_logits or getattr(activation, "name", None) != "sigmoid":
            return None
        y_true, y_pred = self._labels(y_true, y_pred)
        return (y_pred - y_true) / y_pred.size

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """-mean over samples of sum_i y_i log p_i, with one-hot (or soft) labels y along the last
    axis.

    from_logits=False: y_pred are probabilities; as Keras, each row is first divided by its sum
    and then clipped to [1e-7, 1 - 1e-7].
    from_logits=True: y_pred are logits z and log p = z - logsumexp(z) (stable: the row maximum
    is subtracted before exp).
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0):
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing, type(self).__name__)

    def _labels(self, y_true, y_pred):
        """Labels spread by label_smoothing s: y (1 - s) + s / classes (as Keras)."""
        y_true, y_pred = _match_shapes(y_true, y_pred, type(self).__name__)
        if self.label_smoothing:
            classes = y_pred.shape[-1]
            y_true = y_true * (1 - self.label_smoothing) + self.label_smoothing / classes
        return y_true, y_pred

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        y_true, y_pred = self._labels(y_true, y_pred)
        if self.from_logits:
            shifted = y_pred - np.max(y_pred, axis=-1, keepdims=True)
            log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        else:
            log_p = np.log(self._clipped_probabilities(y_pred))
        return float(-np.sum(y_true * log_p) / _samples(y_pred))

    @staticmethod
    def _clipped_probabilities(y_pred):
        return np.clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True), EPSILON, 1 - EPSILON)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true, y_pred = self._labels(y_true, y_pred)
        label_mass = np.sum(y_true, axis=-1, keepdims=True)
        if self.from_logits:
            # dL/dz_j = p_j * sum_i y_i - y_j  (the derivation in the module docstring).
            return (_softmax(y_pred) * label_mass - y_true) / _samples(y_pred)
        # L = -sum_i y_i log q_i with q = p / sum(p):  dL/dq_i = -y_i / q_i, then through the
        # normalisation, dq_i/dp_j = (delta_ij - q_i) / sum(p):
        #   dL/dp_j = (dL/dq_j - sum_i dL/dq_i q_i) / sum(p) = (-y_j / q_j + sum_i y_i) / sum(p).
        total = np.sum(y_pred, axis=-1, keepdims=True)
        q = self._clipped_probabilities(y_pred)
        return (-y_true / q + label_mass) / total / _samples(y_pred)

    def preactivation_gradient(self, y_true: np.ndarray, y_pred: np.ndarray,
                               activation: ActivationFunction | None) -> np.ndarray | None:
        if self.from_logits or getattr(activation, "name", None) != "softmax":
            return None
        y_true, y_pred = self._labels(y_true, y_pred)
        label_mass = np.sum(y_true, axis=-1, keepdims=True)
        return (y_pred * label_mass - y_true) / _samples(y_pred)

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class labels instead of one-hot rows.

    y_true: integers of shape y_pred.shape[:-1] (or with a trailing axis of 1), each in
    [0, classes). The loss is -mean log p[label]; it is computed as the categorical loss of the
    one-hot labels, so the two classes give identical numbers.
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False):
        super().__init__(from_logits=from_logits)

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits}

    def _labels(self, y_true, y_pred):
        y_pred = _as_float(y_pred, "y_pred", "SparseCategoricalCrossentropy")
        labels = np.asarray(y_true)
        if y_pred.ndim < 1:
            raise ValueError("SparseCategoricalCrossentropy: y_pred must have a class axis")
        if labels.shape != y_pred.shape[:-1]:
            if labels.shape == (*y_pred.shape[:-1], 1):
                labels = labels.reshape(y_pred.shape[:-1])
            else:
                raise ValueError(
                    f"SparseCategoricalCrossentropy: y_true must hold one integer label per "
                    f"sample, shape {y_pred.shape[:-1]}, for y_pred {y_pred.shape}; got "
                    f"{labels.shape}"
                )
        classes = y_pred.shape[-1]
        as_int = labels.astype(np.int64)
        if labels.size and (np.any(as_int != labels) or as_int.min() < 0
                            or as_int.max() >= classes):
            raise ValueError(
                f"SparseCategoricalCrossentropy: labels must be integers in [0, {classes}), "
                f"got values from {labels.min()} to {labels.max()}"
            )
        one_hot = np.zeros(y_pred.shape, dtype=y_pred.dtype)
        np.put_along_axis(one_hot, as_int[..., None], 1, axis=-1)
        return one_hot, y_pred


class Hinge(Loss):
    """mean(max(1 - y * y_pred, 0)) for labels y in {-1, 1} (labels in {0, 1} are mapped to
    {-1, 1} first, as Keras does);  dL/dy_pred = -y where the margin 1 - y*y_pred is positive.
    """

    name = "hinge"

    @staticmethod
    def _signed(y_true):
        if np.all((y_true == 0) | (y_true == 1)):
            return 2 * y_true - 1
        return y_true

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        y_true, y_pred = _match_shapes(y_true, y_pred, "Hinge")
        y = self._signed(y_true)
        return float(np.mean(np.maximum(1 - y * y_pred, 0)))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y_true, y_pred = _match_shapes(y_true, y_pred, "Hinge")
        y = self._signed(y_true)
        return np.where(1 - y * y_pred > 0, -y, 0).astype(y_pred.dtype) / y_pred.size


_ALIASES = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "hinge": Hinge,
}
_CLASSES = {cls.__name__: cls for cls in _ALIASES.values()}


def get(identifier: str | dict | Loss) -> Loss:
    """A loss from a Keras name ("mse", "categorical_crossentropy", "MeanSquaredError"), a
    config dict from ``serialize``, or an object with ``__call__`` and ``gradient``."""
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"unknown loss {identifier!r}; known: {', '.join(sorted(_ALIASES))}"
            )
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown loss config {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier) and callable(getattr(identifier, "gradient", None)):
        return identifier
    if callable(identifier):
        raise TypeError(
            f"loss {identifier!r} has no gradient method: training needs dL/dy_pred. Subclass "
            "chalknet.losses.Loss (define __call__ and gradient) or use a name such as 'mse'."
        )
    raise TypeError(f"loss must be a name or a Loss object, got {identifier!r}")


def serialize(loss: Loss) -> dict:
    """JSON-serialisable description that ``get`` turns back into the loss."""
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


# ----- CTC (connectionist temporal classification), Keras 3's convention -----------------------

from . import ops as _ops  # noqa: E402


class CTC(Loss):
    """CTC loss for sequence labelling without alignment (reading a row of digits, speech), as
    Keras 3's ``keras.losses.CTC``: the mean over the batch of -ln p(label | logits).

    y_true: integer labels (batch, max_label_length); 0 is the blank and also the padding, so
    the label of sample b is its non-zero entries, which must come first (padding only at the
    end).  y_pred: logits (batch, time, classes), unnormalised (the last layer is linear; the
    softmax is taken inside), every time step used.  The math (alpha/beta recursion, Graves et
    al. 2006) is in :mod:`chalknet.reference.ctc`; ``chalknet.ops.ctc_loss`` takes explicit
    lengths and another blank.  ``gradient`` is d(mean loss)/d(logits).  A label that cannot fit
    in the time steps (it needs one step per label plus a blank between equal neighbours) has
    loss +inf and gradient 0.  Decode predictions with ``chalknet.ops.ctc_decode``.
    """

    name = "ctc"

    def _arguments(self, y_true, y_pred):
        y_pred = _as_float(y_pred, "y_pred", "CTC")
        labels = np.asarray(y_true)
        if y_pred.ndim != 3:
            raise ValueError(f"CTC: y_pred must be logits of shape (batch, time, classes), got "
                             f"shape {y_pred.shape}")
        if labels.ndim != 2 or labels.shape[0] != y_pred.shape[0]:
            raise ValueError(f"CTC: y_true must be labels of shape (batch, max_label_length) "
                             f"with batch {y_pred.shape[0]} (y_pred {y_pred.shape}), got shape "
                             f"{labels.shape}")
        if labels.dtype.kind not in "iuf" or np.any(labels != np.round(labels)):
            raise TypeError(f"CTC: y_true must hold integer class labels, got dtype "
                            f"{labels.dtype}")
        classes = y_pred.shape[2]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"CTC: labels must be in [1, {classes}) (0 is the blank and the "
                             f"padding), got values from {labels.min()} to {labels.max()}")
        is_label = labels != 0
        gap = np.argwhere(~is_label[:, :-1] & is_label[:, 1:])
        if gap.size:
            b = int(gap[0][0])
            raise ValueError(f"CTC: y_true[{b}] = {labels[b].tolist()} has padding (0) before a "
                             f"label; pad only at the end")
        label_lengths = is_label.sum(axis=1)
        logit_lengths = np.full(y_pred.shape[0], y_pred.shape[1])
        return labels.astype(np.int64), y_pred, label_lengths, logit_lengths

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(np.mean(_ops.ctc_loss(*self._arguments(y_true, y_pred))))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        args = self._arguments(y_true, y_pred)
        _, d_logits = _ops.ctc_loss_and_gradient(*args)
        return d_logits / d_logits.dtype.type(max(d_logits.shape[0], 1))


_ALIASES["ctc"] = CTC
_CLASSES["CTC"] = CTC
