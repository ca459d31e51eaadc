"""Conv2D, pooling and ZeroPadding2D layers: values against loops written here, gradient checks
over the options, shape inference, errors, configs."""

import json

import numpy as np
import pytest

from chalknet import regularizers
from chalknet.layers import (
    AveragePooling2D,
    AvgPool2D,
    Conv2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
    ZeroPadding2D,
    get_layer_class,
)
from chalknet.utils import gradient_check, set_random_seed

pytestmark = pytest.mark.usefixtures("one_thread")


def naive_conv(x, kernel, bias, stride, pads, dilation):
    """y[n, i, j, f] = bias[f] + sum_{a, b, c} xp[n, i*s + a*d, j*s + b*d, c] kernel[a, b, c, f]."""
    (top, bottom), (left, right) = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, _, filters = kernel.shape
    out_h = (xp.shape[1] - (kh - 1) * dilation - 1) // stride + 1
    out_w = (xp.shape[2] - (kw - 1) * dilation - 1) // stride + 1
    y = np.zeros((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    pixel = xp[:, i * stride + a * dilation, j * stride + b * dilation, :]
                    y[:, i, j, :] += pixel @ kernel[a, b]
    return y + bias


# (kwargs, explicit pads) where the "same" pads follow TensorFlow's rule worked by hand:
# 3x3 stride 1 -> 1 each side; 3x3 stride 2 on height 7 -> out 4, total (4-1)*2+3-7 = 2 -> 1, 1,
# on width 6 -> out 3, total (3-1)*2+3-6 = 1 -> 0, 1; 2x2 on 6 with stride 1 -> total 1 ->
# (0 before, 1 after); dilation 2 3x3 -> span 5 -> 2, 2.
CASES = [
    ({"kernel_size": 3}, ((0, 0), (0, 0)), 1, 1),
    ({"kernel_size": 3, "padding": "same"}, ((1, 1), (1, 1)), 1, 1),
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, ((1, 1), (0, 1)), 2, 1),
    ({"kernel_size": 2, "padding": "same"}, ((0, 1), (0, 1)), 1, 1),
    ({"kernel_size": 3, "dilation_rate": 2, "padding": "same"}, ((2, 2), (2, 2)), 1, 2),
    ({"kernel_size": 1}, ((0, 0), (0, 0)), 1, 1),
]


@pytest.mark.parametrize(("kwargs", "pads", "stride", "dilation"), CASES)
def test_conv2d_forward_against_loops(kwargs, pads, stride, dilation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, 3))
    layer = Conv2D(4, dtype="float64", bias_initializer="random_normal", **kwargs)
    y = layer(x)
    want = naive_conv(x, layer.kernel, layer.bias, stride, pads, dilation)
    assert y.shape == want.shape == (2, *layer.compute_output_shape((7, 6, 3)))
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3, "activation": "tanh"},
    {"kernel_size": (2, 3), "strides": (2, 1), "padding": "same"},
    {"kernel_size": 3, "dilation_rate": 2, "padding": "same", "activation": "sigmoid"},
    {"kernel_size": 1, "use_bias": False},
    {"kernel_size": 5, "strides": 3, "padding": "same", "activation": "softplus"},
])
@pytest.mark.parametrize("batch", [1, 2])
def test_conv2d_gradient_check(kwargs, batch):
    x = np.random.default_rng(1).normal(size=(batch, 6, 5, 2))
    layer = Conv2D(3, bias_initializer="random_normal", **kwargs)
    report = gradient_check(layer, x)
    assert report.passed, str(report)
    assert set(report.errors) == {"input", "kernel"} | ({"bias"} if layer.use_bias else set())


def test_conv2d_relu_gradient_check_away_from_kinks():
    rng = np.random.default_rng(2)
    set_random_seed(2)  # the kernel's initial values too, so no pre-activation lands near 0
    layer = Conv2D(2, 3, padding="same", activation="relu", dtype="float64")
    x = rng.normal(size=(2, 5, 5, 2))
    layer(x)
    z = naive_conv(x, layer.kernel, 0.0, 1, ((1, 1), (1, 1)), 1)
    assert np.min(np.abs(z)) > 1e-3  # no pre-activation within a finite-difference step of 0
    assert gradient_check(layer, x).passed


def test_conv2d_dtypes_weights_and_regularizers():
    layer = Conv2D(8, (3, 2), kernel_regularizer=regularizers.L2(0.5))
    y = layer(np.ones((1, 5, 5, 3), dtype=np.float64))
    assert y.dtype == np.float32 and layer.kernel.shape == (3, 2, 3, 8)
    assert layer.bias.shape == (8,) and layer.count_params() == 3 * 2 * 3 * 8 + 8
    assert layer.regularization_loss() == pytest.approx(0.5 * float(np.sum(layer.kernel ** 2)))
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_conv2d_errors():
    layer = Conv2D(2, 3, name="c1")
    layer(np.ones((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"Conv2D layer 'c1': expected input shape "
                                         r"\(None, 5, 5, 3\), received \(1, 5, 5, 4\)"):
        layer(np.ones((1, 5, 5, 4)))
    with pytest.raises(ValueError, match=r"expected images .*received per-sample shape \(5, 3\)"):
        Conv2D(2, 3)(np.ones((5, 5, 3)))
    with pytest.raises(ValueError, match=r"window \(3, 3\).*does not fit.*\(2, 2\)"):
        Conv2D(2, 3)(np.ones((1, 2, 2, 3)))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        Conv2D(2, 0)
    with pytest.raises(ValueError, match="channels_last"):
        Conv2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        Conv2D(0, 3)


def test_pooling_by_hand():
    x = np.array([[1.0, 2.0, 5.0, 0.0],
                  [3.0, 4.0, 1.0, 1.0],
                  [0.0, 0.0, 2.0, 2.0],
                  [8.0, 0.0, 2.0, 6.0]]).reshape(1, 4, 4, 1)
    pool = MaxPooling2D(dtype="float64")
    np.testing.assert_array_equal(pool(x)[0, :, :, 0], [[4.0, 5.0], [8.0, 6.0]])
    d_x = pool.backward(np.array([10.0, 20.0, 30.0, 40.0]).reshape(1, 2, 2, 1))[0, :, :, 0]
    np.testing.assert_array_equal(d_x, [[0, 0, 20, 0], [0, 10, 0, 0], [0, 0, 0, 0],
                                        [30, 0, 0, 40]])
    average = AveragePooling2D(dtype="float64")
    np.testing.assert_array_equal(average(x)[0, :, :, 0], [[2.5, 1.75], [2.0, 3.0]])
    np.testing.assert_array_equal(average.backward(np.full((1, 2, 2, 1), 4.0)), np.ones_like(x))
    # "same" with 3x3 windows, stride 2 on 4x4: out 2x2, pads 0 before / 1 after; the bottom
    # right window holds the 4 in-image pixels 2, 2, 2, 6 (padding ignored)
    same = AveragePooling2D(3, 2, padding="same", dtype="float64")
    assert same(x).shape == (1, 2, 2, 1)
    assert same(x)[0, 1, 1, 0] == pytest.approx(3.0)
    np.testing.assert_array_equal(GlobalMaxPooling2D(dtype="float64")(x), [[8.0]])
    np.testing.assert_allclose(GlobalAveragePooling2D(dtype="float64")(x), [[37.0 / 16]])
    assert GlobalAveragePooling2D(keepdims=True)(x).shape == (1, 1, 1, 1)
    assert MaxPool2D is MaxPooling2D and AvgPool2D is AveragePooling2D


@pytest.mark.parametrize("layer", [
    MaxPooling2D(), MaxPooling2D(3, strides=2, padding="same"), MaxPooling2D((2, 3), (1, 2)),
    AveragePooling2D(), AveragePooling2D(3, strides=2, padding="same"),
    GlobalAveragePooling2D(), GlobalMaxPooling2D(), GlobalMaxPooling2D(keepdims=True),
    ZeroPadding2D(), ZeroPadding2D(((1, 2), (0, 3))),
], ids=lambda layer: type(layer).__name__)
def test_pooling_gradient_check(layer):
    # distinct values a finite-difference step apart: no ties, so max pooling is smooth here
    x = np.random.default_rng(3).permutation(2 * 7 * 6 * 3).reshape(2, 7, 6, 3) / 10.0
    report = gradient_check(layer, x)
    assert report.passed, str(report)
    assert layer.compute_output_shape((7, 6, 3)) == layer.forward(x).shape[1:]


def test_zero_padding_by_hand_and_errors():
    x = np.ones((1, 2, 2, 1))
    y = ZeroPadding2D(((1, 0), (0, 2)), dtype="float64")(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]])
    assert ZeroPadding2D(2).compute_output_shape((3, 4, 5)) == (7, 8, 5)
    assert ZeroPadding2D((1, 2)).padding == ((1, 1), (2, 2))
    with pytest.raises(ValueError, match=r"ZeroPadding2D.*non-negative"):
        ZeroPadding2D(-1)
    with pytest.raises(ValueError, match=r"expected images.*received per-sample shape \(4,\)"):
        MaxPooling2D()(np.ones((2, 4)))
    with pytest.raises(ValueError, match="pool_size must be a positive int"):
        MaxPooling2D(0)


@pytest.mark.parametrize("layer", [
    Conv2D(4, (3, 2), strides=2, padding="same", activation="relu",
           kernel_regularizer="l2", kernel_initializer="he_normal"),
    MaxPooling2D(3, 2, "same"), AveragePooling2D(), GlobalMaxPooling2D(keepdims=True),
    GlobalAveragePooling2D(), ZeroPadding2D(((1, 2), (3, 4))),
], ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    layer(np.ones((1, 6, 6, 2)))
    config = json.loads(json.dumps(layer.get_config()))
    clone = get_layer_class(type(layer).__name__).from_config(config)
    assert clone.get_config() == layer.get_config()
    clone.maybe_build((6, 6, 2))
    clone.set_weights(layer.get_weights())
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 2))
    np.testing.assert_array_equal(clone(x), layer(x))
