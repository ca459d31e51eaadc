"""Conv2D: the 2-D convolution layer over channels-last images (the math is in ``ops``)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import activations, initializers, ops, regularizers
from .base import Layer
from .core import _check_gradient_shape, _require_cache

if TYPE_CHECKING:
    from .base import ActivationLike, InitializerLike, RegularizerLike


def _pair_config(value, name, layer):
    """2 -> (2, 2); (2, 3) -> (2, 3); anything else is an error naming the layer."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v >= 1 for v in pair):
        raise ValueError(f"{layer}: {name} must be a positive int or a pair of them, got "
                         f"{value!r}")
    return (int(pair[0]), int(pair[1]))


def _padding_config(padding, layer):
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def _data_format(data_format, layer):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer}: only data_format='channels_last' (NHWC) is supported, "
                         f"got {data_format!r}")


def window_output_shape(layer: Layer, input_shape: tuple[int, ...], window: tuple[int, int],
                        strides: tuple[int, int], padding: str,
                        dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """(out_h, out_w) of a sliding window over a (H, W, C) input; an error naming ``layer``
    when the window does not fit."""
    if len(input_shape) != 3:
        raise ValueError(f"{layer._describe()}: expected images (None, height, width, channels),"
                         f" received per-sample shape {tuple(input_shape)}")
    _, _, _, out_hw = ops.conv_geometry((1, *input_shape), window, strides, padding, dilation,
                                        layer._describe())
    if min(out_hw) < 1:
        span = tuple((k - 1) * d + 1 for k, d in zip(window, dilation, strict=True))
        raise ValueError(f"{layer._describe()}: the window {span} (with dilation) does not fit "
                         f"in inputs of height x width {tuple(input_shape[:2])} with padding "
                         f"{padding!r}")
    return out_hw


class Conv2D(Layer):
    """2-D convolution: y = activation(conv2d(x, kernel) + bias), images (N, H, W, C).

    kernel (kernel_h, kernel_w, in_channels, filters) and bias (filters,), as in Keras.
    padding "valid" (no padding) or "same" (output size ceil(input / stride), TensorFlow's rule:
    the odd row/column of padding goes at the bottom/right).

    Forward: y[n, i, j, f] = bias[f] + sum_{a, b, c} x_pad[n, i*s + a*d, j*s + b*d, c]
    * kernel[a, b, c, f]. Backward, with dz = dL/d(pre-activation): dL/dkernel correlates the
    input with dz, dL/dbias sums dz over batch and positions, and dL/dx is the "transposed
    convolution" of dz with the kernel; all three run in the compiled kernels (``ops.conv2d*``,
    whose NumPy twins in ``chalknet.reference.conv2d`` show the im2col form).
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int],
                 strides: int | tuple[int, int] = (1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate: int | tuple[int, int] = (1, 1),
                 activation: ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: InitializerLike = "glorot_uniform",
                 bias_initializer: InitializerLike = "zeros",
                 kernel_regularizer: RegularizerLike = None,
                 bias_regularizer: RegularizerLike = None, **kwargs: Any):
        super().__init__(**kwargs)
        name = f"Conv2D {self.name!r}"
        if not isinstance(filters, numbers.Integral) or filters < 1:
            raise ValueError(f"{name}: filters must be a positive integer, got {filters!r}")
        _data_format(data_format, name)
        self.filters = int(filters)
        self.kernel_size = _pair_config(kernel_size, "kernel_size", name)
        self.strides = _pair_config(strides, "strides", name)
        self.padding = _padding_config(padding, name)
        self.dilation_rate = _pair_config(dilation_rate, "dilation_rate", name)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{name}: strides > 1 together with dilation_rate > 1 is not "
                             "supported (Keras forbids it too)")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self._config_initializers = (kernel_initializer, bias_initializer)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        out_h, out_w = window_output_shape(self, input_shape, self.kernel_size, self.strides,
                                           self.padding, self.dilation_rate)
        return (out_h, out_w, self.filters)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.compute_output_shape(input_shape)  # checks the rank and that the kernel fits
        self.add_weight("kernel", (*self.kernel_size, input_shape[-1], self.filters),
                        self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer,
                            self.bias_regularizer)
        self.built = True

    def _geometry(self):
        return {"strides": self.strides, "padding": self.padding,
                "dilation_rate": self.dilation_rate}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x, min_rank=3)
        bias = self.bias if self.use_bias else None
        self._x = x
        self._z = ops.conv2d(x, self.kernel, bias, **self._geometry())
        self._y = self.activation(self._z)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        z, y = _require_cache(self, "_z", "_y")
        dy = _check_gradient_shape(self, dy, y.shape)
        return self.backward_preactivation(self.activation.backward(z, y, dy))

    def backward_preactivation(self, dz: np.ndarray) -> np.ndarray:
        """``backward`` given dL/dz (z = conv2d(x, kernel) + bias) instead of dL/dy."""
        x, z = _require_cache(self, "_x", "_z")
        dz = _check_gradient_shape(self, dz, z.shape)
        d_kernel, d_bias = ops.conv2d_backward_kernel(dz, x, self.kernel_size,
                                                      **self._geometry())
        self.set_gradient("kernel", d_kernel)
        if self.use_bias:
            self.set_gradient("bias", d_bias)
        if not self.needs_input_gradient:
            return None
        return ops.conv2d_backward_input(dz, self.kernel, x.shape, **self._geometry())

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=self.padding,
            dilation_rate=list(self.dilation_rate),
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self._config_initializers[0]),
            bias_initializer=initializers.serialize(self._config_initializers[1]),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
        )
        return config
