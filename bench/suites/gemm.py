"""The sgemm workloads of DESIGN.md: square n = 128 .. 2048 and the MLP layer shapes.

Engines: chalknet (ops.matmul), numpy (``a @ b``, NumPy's BLAS) and torch (``torch.mm`` on
tensors sharing the same float32 memory).  Shapes are (m, k, n): op(A) is m x k, B is k x n.
"""

from __future__ import annotations

import numpy as np

from chalknet import ops

from . import Workload

SQUARE_SIZES = (128, 256, 512, 1024, 2048)
MLP_SHAPES = ((64, 784, 256), (64, 256, 10))  # batch 64 through a 784-256-10 network


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def sgemm_workload(group: str, m: int, k: int, n: int, seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    engines = {
        "chalknet": lambda: ops.matmul(a, b),
        "numpy": lambda: a @ b,
    }
    torch = _torch()
    if torch is not None:
        a_t, b_t = torch.from_numpy(a), torch.from_numpy(b)
        engines["torch"] = lambda: torch.mm(a_t, b_t)
    return Workload(group, engines, flops=2.0 * m * n * k)


def workloads(threads: int) -> list[Workload]:
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
    rows = [sgemm_workload(f"sgemm n={n}", n, n, n) for n in SQUARE_SIZES]
    rows += [sgemm_workload(f"sgemm {m}x{k}x{n}", m, k, n) for m, k, n in MLP_SHAPES]
    return rows
