"""Chapter — What a CNN sees: the Keras MNIST convnet, then its filters, feature maps, the
image each class score likes best, DeepDream and style transfer.

The lesson's code lives in ``chalknet.vision`` (``vision.cnn_chapter``); this module gives it
the course's chapter interface: ``NAME``, ``NUMBER``, ``TITLE`` and
``run(output_dir, quick=False) -> dict``. Run it: ``python -m chalknet demo cnn`` or
``python examples/cnn.py``.
"""

from __future__ import annotations

from .. import vision

NAME = "cnn"
NUMBER = 8  # after the seven chapters of issue 6
TITLE = "What a CNN sees: filters, feature maps, activation maximisation, DeepDream, style"


def run(output_dir, quick=False) -> dict:
    """Train the convnet (5 epochs, or 1 with ``quick``), write the pictures into
    ``output_dir`` and return the numbers behind the claims (see ``vision.cnn_chapter``)."""
    return vision.cnn_chapter(output_dir, quick=quick)
