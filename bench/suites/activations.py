"""ReLU's backward on the first conv layer's output of the Keras convnet (batch 128, 26x26x32):
chalknet (ops.relu_backward, one C++ pass), the reference (np.where) and torch
(aten.threshold_backward, what autograd runs for relu)."""

from __future__ import annotations

import numpy as np

from chalknet import ops, reference

from . import Workload

SHAPE = (128, 26, 26, 32)


def workloads(threads: int) -> list[Workload]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    d_output = rng.standard_normal(SHAPE, dtype=np.float32)
    engines = {"chalknet": lambda: ops.relu_backward(d_output, x),
               "reference": lambda: reference.relu_backward(d_output, x)}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(threads)
        x_t, d_t = torch.from_numpy(x), torch.from_numpy(d_output)
        engines["torch"] = lambda: torch.ops.aten.threshold_backward(d_t, x_t, 0.0)
    return [Workload("relu backward 128x26x26x32", engines)]
