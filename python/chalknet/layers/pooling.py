"""Pooling and padding layers over channels-last images: MaxPooling2D, AveragePooling2D,
GlobalAveragePooling2D, GlobalMaxPooling2D and ZeroPadding2D."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import ops
from .base import Layer
from .conv import _data_format, _padding_config, _pair_config, window_output_shape
from .core import _check_gradient_shape, _require_cache


class _Pooling2D(Layer):
    """Shared configuration of the windowed pooling layers."""

    def __init__(self, pool_size: int | tuple[int, int] = (2, 2),
                 strides: int | tuple[int, int] | None = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        name = f"{type(self).__name__} {self.name!r}"
        _data_format(data_format, name)
        self.pool_size = _pair_config(pool_size, "pool_size", name)
        self.strides = self.pool_size if strides is None else _pair_config(strides, "strides",
                                                                           name)
        self.padding = _padding_config(padding, name)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        out_h, out_w = window_output_shape(self, input_shape, self.pool_size, self.strides,
                                           self.padding)
        return (out_h, out_w, input_shape[-1])

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.compute_output_shape(input_shape)  # checks the rank and that the window fits
        self.built = True

    def _geometry(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides),
                      padding=self.padding)
        return config


class MaxPooling2D(_Pooling2D):
    """The maximum of each pool_size window (strides default to pool_size).

    Backward: each dy goes to the position of its window's maximum (the first one, reading
    row by row, when there is a tie); every other input gets 0.  Forward remembers those
    positions (``ops.max_pool2d_with_argmax``), so backward need not search the input again.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=3)
        self._input_shape_seen = x.shape
        self._output_shape = (x.shape[0], *self.compute_output_shape(x.shape[1:]))
        y, self._argmax = ops.max_pool2d_with_argmax(x, **self._geometry())
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape, argmax = _require_cache(self, "_input_shape_seen", "_argmax")
        dy = _check_gradient_shape(self, dy, self._output_shape)
        return ops.max_pool2d_backward_argmax(dy, argmax, shape, **self._geometry())


class AveragePooling2D(_Pooling2D):
    """The mean of each pool_size window ("same" windows average only their in-image pixels).

    Backward: each dy is shared equally by the pixels of its window.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=3)
        self._input_shape_seen = x.shape
        self._output_shape = (x.shape[0], *self.compute_output_shape(x.shape[1:]))
        return ops.avg_pool2d(x, **self._geometry())

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (shape,) = _require_cache(self, "_input_shape_seen")
        dy = _check_gradient_shape(self, dy, self._output_shape)
        return ops.avg_pool2d_backward(dy, shape, **self._geometry())


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class _GlobalPooling2D(Layer):
    """(N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims=True."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        _data_format(data_format, f"{type(self).__name__} {self.name!r}")
        self.keepdims = bool(keepdims)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"{self._describe()}: expected images (None, height, width, "
                             f"channels), received per-sample shape {tuple(input_shape)}")
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (1, 1, input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def _flat_dy(self, dy, x_shape):
        out_shape = (x_shape[0], *self.compute_output_shape(x_shape[1:]))
        return _check_gradient_shape(self, dy, out_shape).reshape(x_shape[0], x_shape[-1])

    def _output(self, pooled):
        return pooled.reshape(pooled.shape[0], 1, 1, pooled.shape[1]) if self.keepdims else pooled

    def get_config(self) -> dict:
        config = super().get_config()
        config["keepdims"] = self.keepdims
        return config


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over the image; backward shares dy over the H*W pixels."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=3)
        self._input_shape_seen = x.shape
        return self._output(ops.global_avg_pool2d(x))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (shape,) = _require_cache(self, "_input_shape_seen")
        return ops.global_avg_pool2d_backward(self._flat_dy(dy, shape), shape)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel over the image; backward sends dy to that maximum."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=3)
        self._x = x
        return self._output(ops.global_max_pool2d(x))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = _require_cache(self, "_x")
        return ops.global_max_pool2d_backward(self._flat_dy(dy, x.shape), x)


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around each image.

    padding: an int p (p on every side), a pair (ph, pw) (ph rows top and bottom, pw columns
    left and right), or ((top, bottom), (left, right)). Backward crops dy back.
    """

    def __init__(self,
                 padding: int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]] = (1, 1),
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        name = f"ZeroPadding2D {self.name!r}"
        _data_format(data_format, name)
        self.padding = self._normalize(padding, name)

    @staticmethod
    def _normalize(padding, name):
        if isinstance(padding, numbers.Integral):
            padding = ((padding, padding), (padding, padding))
        elif len(padding) == 2 and all(isinstance(p, numbers.Integral) for p in padding):
            padding = ((padding[0], padding[0]), (padding[1], padding[1]))
        try:
            pads = tuple((int(a), int(b)) for a, b in padding)
        except (TypeError, ValueError):
            pads = None
        if pads is None or len(pads) != 2 or min(min(p) for p in pads) < 0:
            raise ValueError(f"{name}: padding must be an int, (ph, pw) or ((top, bottom), "
                             f"(left, right)) of non-negative ints, got {padding!r}")
        return pads

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"{self._describe()}: expected images (None, height, width, "
                             f"channels), received per-sample shape {tuple(input_shape)}")
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        (top, bottom), (left, right) = self.padding
        return (input_shape[0] + top + bottom, input_shape[1] + left + right, input_shape[2])

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=3)
        self._input_shape_seen = x.shape
        return np.pad(x, ((0, 0), *self.padding, (0, 0)))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (shape,) = _require_cache(self, "_input_shape_seen")
        dy = _check_gradient_shape(self, dy, (shape[0], *self.compute_output_shape(shape[1:])))
        (top, _), (left, _) = self.padding
        return dy[:, top:top + shape[1], left:left + shape[2], :]

    def get_config(self) -> dict:
        config = super().get_config()
        config["padding"] = [list(p) for p in self.padding]
        return config
