"""Whole training steps (DESIGN.md's "mlp train step" and "lenet train step"): forward, loss,
backward and the optimizer update on one batch, the way a user's ``fit`` runs them.

Engines: chalknet (``model.train_on_batch``, which also computes the loss value and runs the
Python training step) and torch (``zero_grad``, forward, ``CrossEntropyLoss``, ``backward``,
``step`` on the same architecture and data, NCHW for the convnet). Both start from their own
random weights: the work per step does not depend on the values.
"""

from __future__ import annotations

import numpy as np

import chalknet
from chalknet import layers

from . import Workload


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _mlp_chalknet():
    model = chalknet.Sequential([chalknet.Input(shape=(784,)),
                                 layers.Dense(256, activation="relu"),
                                 layers.Dense(10, activation="softmax")])
    model.compile(chalknet.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return model


def _convnet_chalknet():
    model = chalknet.Sequential([
        chalknet.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _torch_step(torch, model, optimizer, x, y):
    loss_fn = torch.nn.CrossEntropyLoss()  # softmax + cross-entropy, as the fused chalknet path

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def _torch_mlp(torch, x, y):
    nn = torch.nn
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return _torch_step(torch, model, torch.optim.SGD(model.parameters(), lr=0.01),
                       torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))


def _torch_convnet(torch, x, y):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    x_nchw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return _torch_step(torch, model, torch.optim.Adam(model.parameters(), lr=0.001),
                       x_nchw, torch.from_numpy(y.astype(np.int64)))


def workloads(threads: int) -> list[Workload]:
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    mlp = _mlp_chalknet()
    engines = {"chalknet": lambda: mlp.train_on_batch(x, y)}
    if torch is not None:
        engines["torch"] = _torch_mlp(torch, x, y)
    # Per sample: 3 matrix products per Dense layer, 2 * in * out FLOPs each.
    rows.append(Workload("mlp train step 784-256-10 b64 SGD", engines,
                         64 * 3 * 2 * (784 * 256 + 256 * 10)))
    images = rng.random((128, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 128)
    convnet = _convnet_chalknet()
    engines = {"chalknet": lambda: convnet.train_on_batch(images, labels)}
    if torch is not None:
        engines["torch"] = _torch_convnet(torch, images, labels)
    rows.append(Workload("lenet train step b128 Adam", engines))
    rows.append(_convnet_epoch_workload(torch))
    return rows


def _convnet_epoch_workload(torch) -> Workload:
    """Issue 4's measure: one epoch of the convnet on the 8,000 bundled training digits, batch
    128, Adam, shuffled, as ``fit`` runs it (63 steps, the last one of 64 images); torch loops
    over the same shuffled batches with the same model."""
    (x, y), _ = chalknet.datasets.mnist_mini.load_data()
    images = (x.reshape(-1, 28, 28, 1) / np.float32(255)).astype(np.float32)
    labels = y.astype(np.int64)
    convnet = _convnet_chalknet()
    engines = {"chalknet": lambda: convnet.fit(images, labels, batch_size=128, epochs=1,
                                               verbose=0)}
    if torch is not None:
        engines["torch"] = _torch_convnet_epoch(torch, images, labels)
    return Workload("lenet epoch 8000 digits b128 Adam", engines)


def _torch_convnet_epoch(torch, images, labels):
    """The usual torch loop: shuffle, then a step per batch, summing the loss as fit does."""
    x_all = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    y_all = torch.from_numpy(labels)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        total = 0.0
        for batch in torch.randperm(len(labels)).split(128):
            optimizer.zero_grad()
            loss = loss_fn(model(x_all[batch]), y_all[batch])
            loss.backward()
            optimizer.step()
            total += loss.item()
        return total

    return epoch
