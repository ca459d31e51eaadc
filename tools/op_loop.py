"""A short loop over every compiled op (forward and backward), for tools/memcheck.sh.

Each op runs a few times on small float32 and float64 inputs, plus one call that the bindings
must refuse, so the error paths are checked for leaks too.
"""

import numpy as np

from chalknet import ops


def run_ops(dtype, rng):
    x = rng.standard_normal((2, 7, 6, 3)).astype(dtype)
    kernel = rng.standard_normal((3, 2, 3, 4)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    y = ops.conv2d(x, kernel, bias, 2, "same")
    ops.conv2d_backward_input(y, kernel, x.shape, 2, "same")
    ops.conv2d_backward_kernel(y, x, (3, 2), 2, "same")
    pooled = ops.max_pool2d(x, 2, None, "same")
    ops.max_pool2d_backward(pooled, x, 2, None, "same")
    averaged = ops.avg_pool2d(x, 3, 1, "valid")
    ops.avg_pool2d_backward(averaged, x.shape, 3, 1, "valid")
    ops.global_max_pool2d_backward(ops.global_max_pool2d(x), x)
    ops.global_avg_pool2d_backward(ops.global_avg_pool2d(x), x.shape)
    a = rng.standard_normal((33, 17)).astype(dtype)
    b = rng.standard_normal((29, 17)).astype(dtype)
    ops.matmul(a, b, transpose_b=True)
    ops.matmul(a, a, transpose_a=True)


def run_recurrent_and_ctc(dtype, rng):
    """The rnn ops (forward and BPTT, with a mask) and the CTC module (loss, gradient, greedy
    and beam decoding)."""
    batch, steps, features, units = 3, 5, 4, 6
    x = rng.standard_normal((batch, steps, features)).astype(dtype)
    h0 = np.zeros((batch, units), dtype)
    mask = np.ones((batch, steps), dtype=bool)
    mask[0, 3:] = False
    d_outputs = rng.standard_normal((batch, steps, units)).astype(dtype)
    for op, gates in (("simple_rnn", 1), ("lstm", 4), ("gru", 3)):
        kernel = rng.standard_normal((features, gates * units)).astype(dtype)
        recurrent = rng.standard_normal((units, gates * units)).astype(dtype)
        bias = rng.standard_normal((2, gates * units) if op == "gru" else gates * units)
        states = (h0, h0) if op == "lstm" else (h0,)
        cache = getattr(ops, op)(x, *states, kernel, recurrent, bias.astype(dtype), mask=mask)[-1]
        getattr(ops, f"{op}_backward")(d_outputs, *(None,) * len(states), cache)
    logits = rng.standard_normal((batch, 8, 5)).astype(dtype)
    labels = np.array([[1, 2, 2], [3, 0, 0], [4, 1, 0]])
    ops.ctc_loss_and_gradient(labels, logits, np.array([3, 1, 2]), np.array([8, 6, 8]))
    ops.ctc_decode(logits, np.array([8, 6, 8]))
    ops.ctc_decode(logits, np.array([8, 6, 8]), greedy=False, beam_width=4, top_paths=2)


def refused_calls():
    for call in (lambda: ops.matmul(np.zeros((2, 3)), np.zeros((4, 5))),
                 lambda: ops.conv2d(np.zeros((1, 4, 4, 2)), np.zeros((3, 3, 1, 1))),
                 lambda: ops.lstm(np.zeros((1, 2, 3)), np.zeros((1, 2)), np.zeros((1, 2)),
                                  np.zeros((3, 8)), np.zeros((2, 7))),
                 lambda: ops.ctc_loss(np.array([[9]]), np.zeros((1, 2, 3)), [1], [2])):
        try:
            call()
        except ValueError:
            pass


def main():
    rng = np.random.default_rng(0)
    for _ in range(3):
        for dtype in (np.float32, np.float64):
            run_ops(dtype, rng)
            run_recurrent_and_ctc(dtype, rng)
        refused_calls()
    print("op loop done")


if __name__ == "__main__":
    main()
