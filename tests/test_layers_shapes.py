"""Every layer: compute_output_shape agrees with forward (hypothesis over sizes, strides,
padding, dilation) and both dtypes flow through forward and backward unchanged."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalknet import layers as L

pytestmark = pytest.mark.usefixtures("one_thread")


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 3), height=st.integers(1, 9), width=st.integers(1, 9),
       channels=st.integers(1, 4), filters=st.integers(1, 3),
       kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]))
def test_conv2d_output_shape_matches_forward(batch, height, width, channels, filters, kernel,
                                             stride, dilation, padding):
    if dilation > 1:
        stride = (1, 1)
    span = [(k - 1) * dilation + 1 for k in kernel]
    assume(padding == "same" or (span[0] <= height and span[1] <= width))
    layer = L.Conv2D(filters, kernel, strides=stride, padding=padding, dilation_rate=dilation)
    x = np.ones((batch, height, width, channels), dtype=np.float32)
    y = layer(x)
    assert y.shape == (batch, *layer.compute_output_shape((height, width, channels)))
    if padding == "same":  # TensorFlow's rule: ceil(size / stride)
        assert y.shape[1:3] == (-(-height // stride[0]), -(-width // stride[1]))
    assert layer.backward(np.ones_like(y)).shape == x.shape


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 9), width=st.integers(1, 9),
       pool=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       padding=st.sampled_from(["valid", "same"]), kind=st.sampled_from(["max", "average"]))
def test_pooling_output_shape_matches_forward(height, width, pool, stride, padding, kind):
    assume(padding == "same" or (pool[0] <= height and pool[1] <= width))
    cls = L.MaxPooling2D if kind == "max" else L.AveragePooling2D
    layer = cls(pool, strides=stride, padding=padding)
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, *layer.compute_output_shape((height, width, 3)))
    assert layer.backward(np.ones_like(y)).shape == x.shape


def _layers():
    return [
        (L.Dense(3, activation="elu"), (5,)), (L.Dense(3), (4, 5)),
        (L.Activation("softmax"), (5,)), (L.Flatten(), (2, 3)), (L.Reshape((3, -1)), (2, 3)),
        (L.ReLU(max_value=1.0), (5,)), (L.LeakyReLU(), (5,)),
        (L.PReLU(alpha_initializer="ones"), (2, 3)), (L.Maxout(2), (6,)), (L.Softmax(), (5,)),
        (L.Dropout(0.5), (5,)), (L.Dropout(0.5, mode="classic"), (5,)),
        (L.Normalization(mean=0.5, variance=2.0), (5,)),
        (L.Conv2D(2, 3, padding="same", activation="relu"), (5, 5, 2)),
        (L.MaxPooling2D(), (4, 4, 2)), (L.AveragePooling2D(), (4, 4, 2)),
        (L.GlobalAveragePooling2D(), (4, 4, 2)), (L.GlobalMaxPooling2D(), (4, 4, 2)),
        (L.ZeroPadding2D(), (4, 4, 2)), (L.InputLayer(shape=(5,)), (5,)),
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training", [False, True])
def test_dtypes_and_shapes_of_every_layer(dtype, training):
    rng = np.random.default_rng(1)
    for layer, shape in _layers():
        layer = type(layer).from_config({**layer.get_config(), "dtype": dtype})
        x = rng.normal(size=(3, *shape))
        y = layer.forward(x, training=training)
        name = type(layer).__name__
        assert y.dtype == dtype, name
        assert y.shape == (3, *layer.compute_output_shape(shape)), name
        dx = layer.backward(np.ones_like(y))
        assert dx.shape == x.shape and dx.dtype == dtype, name
        for weight, grad in zip(layer.get_weights(), layer.get_gradients(), strict=True):
            assert grad.shape == weight.shape and grad.dtype == dtype, name


def test_an_empty_batch_flows_through_every_layer():
    for layer, shape in _layers():
        x = np.zeros((0, *shape), dtype=np.float32)
        y = layer.forward(x, training=True)
        assert y.shape == (0, *layer.compute_output_shape(shape)), type(layer).__name__
        assert layer.backward(np.zeros_like(y)).shape == x.shape, type(layer).__name__
