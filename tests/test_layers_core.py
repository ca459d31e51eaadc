"""Dense, Activation, Flatten, Reshape, InputLayer: values by an independent formula, gradient
checks, configs, shape inference, errors, regularization."""

import json

import numpy as np
import pytest

from chalknet import activations, initializers, layers, regularizers
from chalknet.layers import Activation, Dense, Flatten, InputLayer, Reshape
from chalknet.utils import gradient_check, numerical_gradient, relative_error

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "softmax"]


def _away_from_kinks(x):
    x = np.array(x, dtype=np.float64)
    x[np.abs(x) < 0.05] += 0.2
    return x


def test_dense_forward_by_formula():
    layer = Dense(2, dtype="float64")
    x = np.array([[1.0, 2.0, 3.0]])
    layer(x)
    kernel = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]])
    layer.set_weights([kernel, np.array([0.25, -0.5])])
    # [1 + 1 + 0 + 0.25, 0 - 2 + 6 - 0.5]
    np.testing.assert_array_equal(layer.forward(x), [[2.25, 3.5]])
    relu = Dense(2, activation="relu", dtype="float64")
    relu(x)
    relu.set_weights([-kernel, np.zeros(2)])
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0]])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradient_check(activation):
    rng = np.random.default_rng(0)
    layer = Dense(5, activation=activation, dtype="float64")
    x = rng.normal(size=(3, 4))
    layer(x)
    # keep pre-activations away from the relu kink: shift the bias if a unit is close to 0
    z = x @ layer.kernel
    bias = np.where(np.min(np.abs(z), axis=0) < 0.05, 0.3, 0.0)
    layer.set_weights([layer.kernel, bias])
    report = gradient_check(layer, x)
    assert report.passed, str(report)
    assert set(report.errors) == {"input", "kernel", "bias"}


def test_dense_rank3_no_bias_and_float32_source():
    rng = np.random.default_rng(1)
    layer = Dense(3, activation="tanh", use_bias=False)  # float32: checked as a float64 copy
    x = rng.normal(size=(2, 4, 5))
    y = layer(x)
    assert y.shape == (2, 4, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float32) @ layer.kernel), rtol=1e-5,
                               atol=1e-6)
    report = gradient_check(layer, x)
    assert report.passed, str(report)
    assert set(report.errors) == {"input", "kernel"}
    assert layer.compute_output_shape((7, 5)) == (7, 3)


def test_backward_preactivation_equals_backward_through_the_activation():
    rng = np.random.default_rng(2)
    layer = Dense(4, activation="softmax", dtype="float64")
    x = rng.normal(size=(3, 6))
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    grads = layer.get_gradients()
    dz = activations.softmax.backward(None, y, dy)
    dx_fused = layer.backward_preactivation(dz)
    np.testing.assert_allclose(dx_fused, dx, rtol=1e-12)
    for fused, plain in zip(layer.get_gradients(), grads, strict=True):
        np.testing.assert_allclose(fused, plain, rtol=1e-12)
    act = Activation("softmax", dtype="float64")
    act.forward(layer._z)
    np.testing.assert_array_equal(act.backward_preactivation(dz), dz)
    np.testing.assert_allclose(act.backward(dy), dz, rtol=1e-15)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer_gradient_check(activation):
    x = _away_from_kinks(np.random.default_rng(4).normal(size=(3, 2, 4)))
    layer = Activation(activation, dtype="float64")
    report = gradient_check(layer, x)
    assert report.passed, str(report)
    np.testing.assert_array_equal(layer.forward(x), activations.get(activation)(x))


def test_flatten_and_reshape():
    x = np.arange(24.0).reshape(2, 3, 4)
    flat = Flatten(dtype="float64")
    np.testing.assert_array_equal(flat(x), x.reshape(2, 12))
    assert flat.compute_output_shape((3, 4)) == (12,)
    assert gradient_check(flat, x).passed
    reshape = Reshape((2, -1), dtype="float64")
    assert reshape.compute_output_shape((3, 4)) == (2, 6)
    np.testing.assert_array_equal(reshape(x), x.reshape(2, 2, 6))
    assert gradient_check(Reshape((4, 3), dtype="float64"), x).passed
    with pytest.raises(ValueError, match=r"Reshape layer .*cannot reshape inputs of shape "
                                         r"\(3, 4\) \(12 values\) to \(5, -1\)"):
        Reshape((5, -1)).compute_output_shape((3, 4))
    with pytest.raises(ValueError, match="at most one -1"):
        Reshape((-1, -1))


def test_input_layer():
    layer = InputLayer(shape=(3,))
    assert layer.input_shape == (3,)
    np.testing.assert_array_equal(layer(np.ones((2, 3))), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected input shape \(None, 3\), received \(2, 4\)"):
        layer(np.ones((2, 4)))
    again = InputLayer.from_config(json.loads(json.dumps(layer.get_config())))
    assert again.input_shape == (3,)
    assert gradient_check(InputLayer(shape=(3,)), np.random.default_rng(0).normal(size=(2, 3)))


def test_shape_errors_name_the_layer():
    layer = Dense(2, name="hidden")
    layer(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"Dense layer 'hidden': expected inputs with 3 "
                                         r"features.*received \(4, 5\)"):
        layer(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"expected dy of shape \(1, 2\).*received \(1, 3\)"):
        layer.backward(np.ones((1, 3)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Dense(2).backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match="rank >= 2"):
        Dense(2)(np.ones(3))
    with pytest.raises(ValueError, match="units must be a positive integer"):
        Dense(0)
    with pytest.raises(ValueError, match="dtype"):
        Dense(2, dtype="int32")
    with pytest.raises(ValueError, match=r"declared input_shape \(4,\), but the inputs have "
                                         r"per-sample shape \(3,\)"):
        Dense(2, input_shape=(4,))(np.ones((2, 3)))
    declared = Dense(2, input_shape=(3,))
    assert declared(np.ones((5, 3))).shape == (5, 2)
    assert Dense(2, input_dim=3).input_shape == (3,)  # Keras 2's spelling


def test_get_config_round_trip_through_json():
    layer = Dense(3, activation="relu", use_bias=False,
                  kernel_initializer=initializers.RandomNormal(stddev=0.5),
                  kernel_regularizer=regularizers.L1L2(l1=0.1, l2=0.2),
                  bias_regularizer="l2", dtype="float64", name="d1")
    layer(np.ones((1, 2)))
    config = json.loads(json.dumps(layer.get_config()))
    clone = layers.get_layer_class("Dense").from_config(config)
    assert clone.get_config() == layer.get_config()
    assert clone.kernel_regularizer.l1 == 0.1 and clone.kernel_regularizer.l2 == 0.2
    assert clone.kernel_initializer.stddev == 0.5
    for cls, args in ((Activation, ("tanh",)), (Flatten, ()), (Reshape, ((2, 3),))):
        original = cls(*args)
        assert cls.from_config(json.loads(json.dumps(original.get_config()))).get_config() == \
            original.get_config()


def test_regularization_loss_and_gradients():
    layer = Dense(2, kernel_regularizer=regularizers.L2(0.1), bias_regularizer=regularizers.L1(0.5),
                  dtype="float64")
    layer(np.ones((1, 3)))
    kernel = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])
    layer.set_weights([kernel, np.array([-1.0, 2.0])])
    # 0.1 * (1 + 4 + 0.25 + 0 + 9 + 1) + 0.5 * (1 + 2)
    assert layer.regularization_loss() == pytest.approx(0.1 * 15.25 + 1.5, rel=1e-14)
    grads = layer.regularization_gradients()
    numeric = numerical_gradient(lambda: layer.regularization_loss(), layer.kernel)
    assert relative_error(grads["kernel"], numeric) < 1e-8
    np.testing.assert_array_equal(grads["bias"], [-0.5, 0.5])
    assert Dense(2).regularization_loss() == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtypes(dtype):
    layer = Dense(3, activation="sigmoid", dtype=dtype)
    y = layer(np.ones((2, 4)))
    assert y.dtype == dtype and layer.kernel.dtype == dtype
    assert layer.backward(np.ones_like(y)).dtype == dtype
    assert all(g.dtype == dtype for g in layer.get_gradients())


def test_parameters_are_updated_in_place():
    layer = Dense(2)
    layer(np.ones((1, 2)))
    kernel = layer.kernel
    layer.set_weights([np.zeros((2, 2)), np.ones(2)])
    assert layer.kernel is kernel and np.all(kernel == 0)


def test_masks_pass_through_elementwise_layers_only():
    from chalknet.layers import Conv2D, Dropout, Flatten, LeakyReLU

    mask = np.array([[True, False, True]])
    assert Dense(2).compute_mask(np.ones((1, 3, 4)), mask) is mask
    assert Dropout(0.5).compute_mask(None, mask) is mask
    assert LeakyReLU().compute_mask(None, mask) is mask
    assert Flatten().compute_mask(None, mask) is None
    assert Conv2D(2, 3).compute_mask(None, mask) is None
    assert Dense(2).compute_mask(None, None) is None
    assert not Dense(2).uses_mask


def test_default_names_are_keras_snake_case_and_unique():
    from chalknet.layers import MaxPooling2D, PReLU

    names = [Dense(1).name, Dense(1).name, MaxPooling2D().name, PReLU().name]
    assert len(set(names)) == 4
    assert names[0].startswith("dense") and names[1].startswith("dense_")
    assert names[2].startswith("max_pooling2d") and names[3].startswith("p_re_lu")
