"""A small MNIST that ships inside chalknet, so lessons, tests and the demo run offline.

It is the real MNIST test set (10,000 digits, see ``data/README.md`` for the source and the
CC BY-SA 3.0 licence) split in order: the first 8,000 images for training, the last 2,000 for
testing. ``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays of
shapes (8000, 28, 28), (8000,), (2000, 28, 28), (2000,), like ``keras.datasets.mnist``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._files import read_idx

TRAIN_SIZE = 8000


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)`` from the bundled digits (8,000 / 2,000)."""
    folder = resources.files(__package__) / "data"
    with resources.as_file(folder / "t10k-images-idx3-ubyte.gz") as images_path, \
            resources.as_file(folder / "t10k-labels-idx1-ubyte.gz") as labels_path:
        images = read_idx(images_path)
        labels = read_idx(labels_path)
    return ((images[:TRAIN_SIZE], labels[:TRAIN_SIZE]),
            (images[TRAIN_SIZE:], labels[TRAIN_SIZE:]))
