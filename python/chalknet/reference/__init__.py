"""The textbook versions of chalknet's ops, in plain NumPy, written to be read.

Every function here has a twin with the same signature in :mod:`chalknet.ops` that runs the
compiled kernel; the tests check that the two agree. Read these first.
"""

from .matmul import matmul

__all__ = ["matmul"]

from .conv2d import conv2d, conv2d_backward_input, conv2d_backward_kernel
from .pooling import (
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_max_pool2d,
    global_max_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_backward_argmax,
    max_pool2d_with_argmax,
)

__all__ += [
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward_input",
    "conv2d_backward_kernel",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool2d_backward_argmax",
    "max_pool2d_with_argmax",
]

from .matmul import gemm

__all__ += ["gemm"]
from .recurrent import (
    gru,
    gru_backward,
    lstm,
    lstm_backward,
    simple_rnn,
    simple_rnn_backward,
)

__all__ += ["gru", "gru_backward", "lstm", "lstm_backward", "simple_rnn", "simple_rnn_backward"]
from .ctc import ctc_decode, ctc_loss, ctc_loss_and_gradient

__all__ += ["ctc_decode", "ctc_loss", "ctc_loss_and_gradient"]

from .activations import relu_backward

__all__ += ["relu_backward"]
