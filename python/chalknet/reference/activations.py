"""Activation backward passes worth a kernel, the references for ``chalknet.ops``.

ReLU, y = max(x, 0), passes the gradient where the input was positive and stops it elsewhere::

    dL/dx = dL/dy * relu'(x),   relu'(x) = 1 if x > 0 else 0     (the kink at 0 gets 0, as Keras)

so the backward pass is a selection, not a multiplication: an infinite or NaN dL/dy where
x <= 0 still gives 0, and a NaN x (not > 0) gives 0.
"""

from __future__ import annotations

import numpy as np


def relu_backward(d_output: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dL/dx of y = relu(x) given d_output = dL/dy (same shape as x)."""
    d_output = np.asarray(d_output)
    return np.where(np.asarray(x) > 0, d_output, 0).astype(d_output.dtype)
