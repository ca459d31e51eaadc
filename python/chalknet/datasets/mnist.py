"""MNIST: 60,000 training and 10,000 test images of handwritten digits, 28x28 grey levels.

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays of shapes
(60000, 28, 28), (60000,), (10000, 28, 28), (10000,), like ``keras.datasets.mnist``.

The four IDX files are read from ``<cache>/mnist/`` (``$CHALKNET_DATA``, else
``~/.chalknet/datasets``) and downloaded there the first time, checked against their SHA-256
checksums: the ones published with the original files, and those of the recompressed copies
some mirrors and course folders hold (same digits inside).

MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges (CC BY-SA 3.0).
"""

from __future__ import annotations

import numpy as np

from ._files import fetch, read_idx

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# Accepted sha256 per file: the original files (as published, e.g. by TensorFlow Datasets),
# and the 2021 recompressed copies of the test set (same contents, different gzip bytes).
CHECKSUMS = {
    "train-images-idx3-ubyte.gz": {
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
    "train-labels-idx1-ubyte.gz": {
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
    "t10k-images-idx3-ubyte.gz": {
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b"},
    "t10k-labels-idx1-ubyte.gz": {
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c"},
}


def _load(filename: str) -> np.ndarray:
    return read_idx(fetch("mnist", filename, MIRRORS, CHECKSUMS[filename]))


def load_test_data() -> tuple[np.ndarray, np.ndarray]:
    """Only the 10,000 test images and labels (two small files)."""
    return _load("t10k-images-idx3-ubyte.gz"), _load("t10k-labels-idx1-ubyte.gz")


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 28, 28) and labels (n,)."""
    x_test, y_test = load_test_data()
    x_train = _load("train-images-idx3-ubyte.gz")
    y_train = _load("train-labels-idx1-ubyte.gz")
    return (x_train, y_train), (x_test, y_test)
