"""The conv2d and max-pool workloads of DESIGN.md, forward and forward+backward.

Engines: chalknet (ops), reference (the NumPy twins) and torch (torch.nn.functional on NCHW
tensors; the NHWC -> NCHW permutes and the weight layout change happen here, outside the timed
calls, with the same values).  forward+backward computes every gradient: d_input, d_kernel and
d_bias for conv2d (torch.autograd.grad over input, weight and bias), d_input for max pooling.
"""

from __future__ import annotations

import numpy as np

from chalknet import ops, reference

from . import Workload

# name: (batch, height, width, in_channels, filters, kernel) with stride 1 and "same" padding.
CONV_SHAPES = {
    "lenet-c1": (64, 28, 28, 1, 32, 5),
    "lenet-c2": (64, 14, 14, 32, 64, 5),
    "vgg-32": (32, 32, 32, 64, 64, 3),
    "vgg-16": (32, 16, 16, 128, 128, 3),
    "resnet-56": (8, 56, 56, 64, 64, 3),
}
MAXPOOL_SHAPE = (64, 28, 28, 32)  # 2x2 windows, stride 2


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def conv_inputs(name, seed=0):
    n, h, w, c, f, k = CONV_SHAPES[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    kernel = rng.standard_normal((k, k, c, f), dtype=np.float32) / np.float32(np.sqrt(k * k * c))
    bias = rng.standard_normal(f, dtype=np.float32)
    d_output = rng.standard_normal((n, h, w, f), dtype=np.float32)
    return x, kernel, bias, d_output


def _conv_engines(lib, x, kernel, bias, d_output, backward):
    k = kernel.shape[:2]

    def forward():
        return lib.conv2d(x, kernel, bias, 1, "same")

    def forward_backward():
        lib.conv2d(x, kernel, bias, 1, "same")
        lib.conv2d_backward_input(d_output, kernel, x.shape, 1, "same")
        return lib.conv2d_backward_kernel(d_output, x, k, 1, "same")

    return forward_backward if backward else forward


def _torch_conv(torch, x, kernel, bias, d_output, backward):
    import torch.nn.functional as F

    x_t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()            # (N, C, H, W)
    w_t = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous()       # (F, C, KH, KW)
    b_t = torch.from_numpy(bias).clone()
    dy_t = torch.from_numpy(d_output).permute(0, 3, 1, 2).contiguous()
    if not backward:
        def forward():
            with torch.no_grad():
                return F.conv2d(x_t, w_t, b_t, padding="same")
        return forward
    for t in (x_t, w_t, b_t):
        t.requires_grad_(True)

    def forward_backward():
        y = F.conv2d(x_t, w_t, b_t, padding="same")
        return torch.autograd.grad(y, (x_t, w_t, b_t), dy_t)

    return forward_backward


def _maxpool_workloads():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(MAXPOOL_SHAPE, dtype=np.float32)
    d_output = rng.standard_normal((64, 14, 14, 32), dtype=np.float32)
    torch = _torch()
    rows = []
    for backward in (False, True):
        engines = {}
        for name, lib in (("chalknet", ops), ("reference", reference)):
            if backward:
                engines[name] = lambda lib=lib: _maxpool_forward_backward(lib, x, d_output)
            else:
                engines[name] = lambda lib=lib: lib.max_pool2d(x, 2)
        if torch is not None:
            engines["torch"] = _torch_maxpool(torch, x, d_output, backward)
        rows.append(Workload(f"maxpool {'fwd+bwd' if backward else 'fwd'}", engines))
    return rows


def _maxpool_forward_backward(lib, x, d_output):
    """What MaxPooling2D runs in training (torch's autograd also keeps the argmax)."""
    y, argmax = lib.max_pool2d_with_argmax(x, 2)
    return y, lib.max_pool2d_backward_argmax(d_output, argmax, x.shape, 2)


def _torch_maxpool(torch, x, d_output, backward):
    import torch.nn.functional as F

    x_t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    dy_t = torch.from_numpy(d_output).permute(0, 3, 1, 2).contiguous()
    if not backward:
        def forward():
            with torch.no_grad():
                return F.max_pool2d(x_t, 2)
        return forward
    x_t.requires_grad_(True)

    def forward_backward():
        return torch.autograd.grad(F.max_pool2d(x_t, 2), x_t, dy_t)

    return forward_backward


def conv_flops(name, backward):
    n, h, w, c, f, k = CONV_SHAPES[name]
    forward = 2.0 * n * h * w * f * k * k * c
    return forward * 3 if backward else forward


def workloads(threads: int) -> list[Workload]:
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
    rows = []
    for name in CONV_SHAPES:
        x, kernel, bias, d_output = conv_inputs(name)
        for backward in (False, True):
            engines = {lib_name: _conv_engines(lib, x, kernel, bias, d_output, backward)
                       for lib_name, lib in (("chalknet", ops), ("reference", reference))}
            if torch is not None:
                engines["torch"] = _torch_conv(torch, x, kernel, bias, d_output, backward)
            rows.append(Workload(f"conv {name} {'fwd+bwd' if backward else 'fwd'}", engines,
                                 conv_flops(name, backward)))
    return rows + _maxpool_workloads()
