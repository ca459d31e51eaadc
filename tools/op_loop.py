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


def refused_calls():
    for call in (lambda: ops.matmul(np.zeros((2, 3)), np.zeros((4, 5))),
                 lambda: ops.conv2d(np.zeros((1, 4, 4, 2)), np.zeros((3, 3, 1, 1)))):
        try:
            call()
        except ValueError:
            pass


def main():
    rng = np.random.default_rng(0)
    for _ in range(3):
        for dtype in (np.float32, np.float64):
            run_ops(dtype, rng)
        refused_calls()
    print("op loop done")


if __name__ == "__main__":
    main()
