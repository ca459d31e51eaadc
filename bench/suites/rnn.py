"""The lstm and gru workloads of DESIGN.md, forward and forward+backward.

Engines: chalknet (ops), reference (the NumPy twins) and torch (torch.nn.LSTM / torch.nn.GRU,
batch_first, with the same weights: see ``torch_lstm`` / ``torch_gru`` for the mapping from
Keras's layouts).  forward+backward computes every gradient from dL/d(outputs): d_x, the
initial-state gradients and all weight gradients (torch.autograd.grad over the same set).

Run ``python -m suites.rnn [--threads N] [--repeat R] [--cpu-time]`` from bench/ for a quick
side-by-side table (medians of alternating runs in one process, speed-up = other / chalknet)
without bench/compare.py.  ``--cpu-time`` times with the process's CPU time instead of the
wall clock: with --threads 1 on a machine shared with other jobs it measures the work done,
not the waiting for a core.
"""

from __future__ import annotations

import numpy as np

from chalknet import ops, reference

from . import Workload

# (T, B, I, H)
RNN_SHAPES = [(50, 32, 64, 128), (100, 16, 32, 32), (35, 64, 256, 512)]
CELLS = {"lstm": 4, "gru": 3}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def rnn_inputs(cell, shape, seed=0, dtype=np.float32):
    """x, h0, c0 (None for the GRU), kernel, recurrent_kernel, bias, d_outputs."""
    steps, batch, features, units = shape
    width = CELLS[cell] * units
    rng = np.random.default_rng(seed)

    def uniform(shape, scale):
        return rng.uniform(-scale, scale, size=shape).astype(dtype)

    x = uniform((batch, steps, features), 1.0)
    h0 = uniform((batch, units), 0.5)
    c0 = uniform((batch, units), 0.5) if cell == "lstm" else None
    kernel = uniform((features, width), np.sqrt(3.0 / features))
    recurrent_kernel = uniform((units, width), np.sqrt(3.0 / units))
    bias = uniform((2, width) if cell == "gru" else (width,), 0.1)
    d_outputs = uniform((batch, steps, units), 1.0)
    return x, h0, c0, kernel, recurrent_kernel, bias, d_outputs


def _keras_to_torch_gru(matrix, units):
    """Keras's GRU blocks z, r, h (last axis) -> torch's r, z, n."""
    z, r, h = (matrix[..., i * units:(i + 1) * units] for i in range(3))
    return np.concatenate([r, z, h], axis=-1)


def torch_lstm(torch, kernel, recurrent_kernel, bias):
    """torch.nn.LSTM computing Keras's LSTM: both use the gate order i, f, c(g), o, so the
    weights are the transposes; Keras's single bias goes to bias_ih, bias_hh is zero."""
    features, width = kernel.shape
    module = torch.nn.LSTM(features, width // 4, batch_first=True)
    dtype = torch.float64 if kernel.dtype == np.float64 else torch.float32
    module = module.to(dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(recurrent_kernel.T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(bias))
        module.bias_hh_l0.zero_()
    return module


def torch_gru(torch, kernel, recurrent_kernel, bias):
    """torch.nn.GRU computing Keras's GRU (reset_after=True): torch's n-gate applies the reset
    after the recurrent product like Keras's, only the block order differs (r, z, n)."""
    features, width = kernel.shape
    units = width // 3
    module = torch.nn.GRU(features, units, batch_first=True)
    dtype = torch.float64 if kernel.dtype == np.float64 else torch.float32
    module = module.to(dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(_keras_to_torch_gru(kernel, units).T.copy()))
        module.weight_hh_l0.copy_(
            torch.from_numpy(_keras_to_torch_gru(recurrent_kernel, units).T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(_keras_to_torch_gru(bias[0], units).copy()))
        module.bias_hh_l0.copy_(torch.from_numpy(_keras_to_torch_gru(bias[1], units).copy()))
    return module


def torch_engine(torch, cell, inputs, backward):
    x, h0, c0, kernel, recurrent_kernel, bias, d_outputs = inputs
    make = torch_lstm if cell == "lstm" else torch_gru
    module = make(torch, kernel, recurrent_kernel, bias)
    x_t = torch.from_numpy(x)
    states = [torch.from_numpy(h0)[None]]
    if cell == "lstm":
        states.append(torch.from_numpy(c0)[None])
    dy_t = torch.from_numpy(d_outputs)

    def run():
        return module(x_t, tuple(states) if cell == "lstm" else states[0])[0]

    if not backward:
        def forward():
            with torch.no_grad():
                return run()
        return forward
    for t in (x_t, *states):
        t.requires_grad_(True)
    wrt = (x_t, *states, *module.parameters())

    def forward_backward():
        return torch.autograd.grad(run(), wrt, dy_t)

    return forward_backward


def numpy_engine(lib, cell, inputs, backward):
    x, h0, c0, kernel, recurrent_kernel, bias, d_outputs = inputs
    states = (h0, c0) if cell == "lstm" else (h0,)
    finals = (None,) * len(states)

    def forward():
        return getattr(lib, cell)(x, *states, kernel, recurrent_kernel, bias)

    def forward_backward():
        cache = forward()[-1]
        return getattr(lib, f"{cell}_backward")(d_outputs, *finals, cache)

    return forward_backward if backward else forward


def rnn_flops(cell, shape, backward):
    steps, batch, features, units = shape
    forward = 2.0 * steps * batch * (features + units) * CELLS[cell] * units
    return forward * 3 if backward else forward


def workloads(threads: int) -> list[Workload]:
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
    rows = []
    for cell in CELLS:
        for shape in RNN_SHAPES:
            inputs = rnn_inputs(cell, shape)
            for backward in (False, True):
                engines = {name: numpy_engine(lib, cell, inputs, backward)
                           for name, lib in (("chalknet", ops), ("reference", reference))}
                if torch is not None:
                    engines["torch"] = torch_engine(torch, cell, inputs, backward)
                label = "x".join(str(d) for d in shape)
                rows.append(Workload(f"{cell} {label} {'fwd+bwd' if backward else 'fwd'}",
                                     engines, rnn_flops(cell, shape, backward)))
    return rows


def _quick_table(threads: int, repeat: int, skip_reference: bool, cpu_time: bool) -> None:
    """Medians of alternating runs and the speed-up of chalknet over each other engine."""
    import time

    clock = time.process_time if cpu_time else time.perf_counter
    import chalknet

    chalknet.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
    except ImportError:
        pass
    print(f"threads={threads} repeat={repeat} clock={'cpu' if cpu_time else 'wall'} "
          f"chalknet={chalknet.build_info()['simd']}")
    speedups: dict[str, list[float]] = {}
    for workload in workloads(threads):
        engines = {k: v for k, v in workload.engines.items()
                   if not (skip_reference and k == "reference")}
        times: dict[str, list[float]] = {name: [] for name in engines}
        for run in engines.values():  # warm-up
            run()
        for _ in range(repeat):
            for name, run in engines.items():
                start = clock()
                run()
                times[name].append(clock() - start)
        medians = {name: float(np.median(t)) for name, t in times.items()}
        cells = [f"{name} {medians[name] * 1e3:8.2f} ms" for name in medians]
        ratios = []
        for name in medians:
            if name != "chalknet":
                ratio = medians[name] / medians["chalknet"]
                speedups.setdefault(name, []).append(ratio)
                ratios.append(f"x{ratio:.2f} vs {name}")
        print(f"{workload.group:28s} " + "  ".join(cells) + "  " + "  ".join(ratios))
    for name, values in speedups.items():
        geomean = float(np.exp(np.mean(np.log(values))))
        print(f"chalknet vs {name}: geomean x{geomean:.2f}, min x{min(values):.2f}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--cpu-time", action="store_true")
    args = parser.parse_args()
    _quick_table(args.threads, args.repeat, args.skip_reference, args.cpu_time)
