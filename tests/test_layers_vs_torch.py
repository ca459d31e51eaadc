"""Layers and losses against PyTorch (an independent implementation), when it is installed.

PyTorch is channels-first with (out, in, kh, kw) kernels; the tests transpose. Only "valid"
padding and symmetric explicit padding are compared for convolutions (PyTorch has no
TensorFlow-style asymmetric "same" for strides > 1; our "same" rule is checked by hand in
test_layers_conv.py).
"""

import numpy as np
import pytest

from chalknet import layers as L
from chalknet import losses

torch = pytest.importorskip("torch", reason="PyTorch is an optional cross-check")
F = torch.nn.functional


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def _nchw(x):
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


def _nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (1, 2)])
def test_conv2d_forward_and_backward(stride, dilation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 8, 3))
    layer = L.Conv2D(4, (3, 2), strides=stride, dilation_rate=dilation, activation="tanh",
                     bias_initializer="random_normal", dtype="float64")
    y = layer(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    d_kernel, d_bias = layer.get_gradients()

    tx, tk, tb = _t(_nchw(x)), _t(np.transpose(layer.kernel, (3, 2, 0, 1))), _t(layer.bias)
    ty = torch.tanh(F.conv2d(tx, tk, tb, stride=stride, dilation=dilation))
    ty.backward(torch.tensor(_nchw(dy)))
    np.testing.assert_allclose(y, _nhwc(ty.detach().numpy()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, _nhwc(tx.grad.numpy()), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(d_kernel, np.transpose(tk.grad.numpy(), (2, 3, 1, 0)),
                               rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(d_bias, tb.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(("layer", "torch_fn"), [
    (L.MaxPooling2D(2), lambda t: F.max_pool2d(t, 2)),
    (L.MaxPooling2D(3, strides=2), lambda t: F.max_pool2d(t, 3, stride=2)),
    (L.AveragePooling2D(2), lambda t: F.avg_pool2d(t, 2)),
    (L.AveragePooling2D((3, 2), strides=1), lambda t: F.avg_pool2d(t, (3, 2), stride=1)),
], ids=["max2", "max3s2", "avg2", "avg32s1"])
def test_pooling(layer, torch_fn):
    rng = np.random.default_rng(1)
    x = rng.permutation(2 * 8 * 7 * 3).reshape(2, 8, 7, 3) / 7.0  # distinct values: no ties
    y = layer(x)
    dy = rng.normal(size=y.shape)
    tx = _t(_nchw(x))
    ty = torch_fn(tx)
    ty.backward(torch.tensor(_nchw(dy)))
    np.testing.assert_allclose(y, _nhwc(ty.detach().numpy()), rtol=1e-6)
    np.testing.assert_allclose(layer.backward(dy), _nhwc(tx.grad.numpy()), rtol=1e-6,
                               atol=1e-7)


def test_losses():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 5)) * 4
    labels = rng.integers(0, 5, 6)
    probabilities = F.softmax(torch.tensor(logits), dim=1).numpy()
    want = F.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits) == \
        pytest.approx(want, rel=1e-12)
    assert losses.SparseCategoricalCrossentropy()(labels, probabilities) == \
        pytest.approx(want, rel=1e-9)
    binary = rng.integers(0, 2, size=(6, 3)).astype(float)
    z = rng.normal(size=(6, 3)) * 3
    tz = _t(z)
    bce = F.binary_cross_entropy_with_logits(tz, torch.tensor(binary))
    bce.backward()
    ours = losses.BinaryCrossentropy(from_logits=True)
    assert ours(binary, z) == pytest.approx(bce.item(), rel=1e-12)
    np.testing.assert_allclose(ours.gradient(binary, z), tz.grad.numpy(), rtol=1e-12)
    target = rng.normal(size=(6, 3))
    for ours, theirs in ((losses.MeanSquaredError(), F.mse_loss),
                         (losses.MeanAbsoluteError(), F.l1_loss)):
        tz = _t(z)
        value = theirs(tz, torch.tensor(target))
        value.backward()
        assert ours(target, z) == pytest.approx(value.item(), rel=1e-12)
        np.testing.assert_allclose(ours.gradient(target, z), tz.grad.numpy(), rtol=1e-12)


def test_activation_layers():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6))
    pairs = [
        (L.LeakyReLU(0.01), lambda t: F.leaky_relu(t, 0.01)),
        (L.ReLU(max_value=0.5), lambda t: torch.clamp(F.relu(t), max=0.5)),
        (L.Softmax(), lambda t: F.softmax(t, dim=-1)),
        (L.Activation("elu"), F.elu), (L.Activation("softplus"), F.softplus),
        (L.Activation("sigmoid"), torch.sigmoid),
    ]
    for layer, fn in pairs:
        layer = type(layer).from_config({**layer.get_config(), "dtype": "float64"})
        y = layer(x)
        dy = rng.normal(size=y.shape)
        tx = _t(x)
        ty = fn(tx)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
