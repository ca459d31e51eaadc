"""The benchmark's torch contenders compute the same function as chalknet: torch.nn.LSTM and
torch.nn.GRU with the weights mapped from Keras's layouts (bench/suites/rnn.py) give the same
outputs, final states and gradients as ops.lstm / ops.gru, in float64.

Bound: both sides round differently but the same float64 arithmetic; the forward values agree
to the per-step bound of test_rnn.py (here T = 6, I = 5, H = 4), the gradients to its
backward bound.  We use 1e-12, far above those (~1e-13) and far below any mapping mistake.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from chalknet import ops

torch = pytest.importorskip("torch", reason="torch is an optional benchmark contender")
BENCH = Path(__file__).resolve().parents[1] / "bench"
if not (BENCH / "suites" / "rnn.py").exists():
    pytest.skip("bench/suites/rnn.py is not next to the tests (installed-wheel run)",
                allow_module_level=True)
sys.path.insert(0, str(BENCH))
from suites import rnn as rnn_suite  # noqa: E402

TOLERANCE = 1e-12


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_torch_modules_match_ops(cell):
    inputs = rnn_suite.rnn_inputs(cell, (6, 3, 5, 4), seed=2, dtype=np.float64)
    x, h0, c0, kernel, recurrent_kernel, bias, d_outputs = inputs
    states = (h0, c0) if cell == "lstm" else (h0,)
    result = getattr(ops, cell)(x, *states, kernel, recurrent_kernel, bias)
    grads = getattr(ops, f"{cell}_backward")(d_outputs, *(None,) * len(states), result[-1])

    make = rnn_suite.torch_lstm if cell == "lstm" else rnn_suite.torch_gru
    module = make(torch, kernel, recurrent_kernel, bias)
    x_t = torch.from_numpy(x).requires_grad_(True)
    states_t = [torch.from_numpy(s)[None].requires_grad_(True) for s in states]
    out_t, finals_t = module(x_t, tuple(states_t) if cell == "lstm" else states_t[0])
    finals_t = finals_t if cell == "lstm" else (finals_t,)

    np.testing.assert_allclose(result[0], out_t.detach().numpy(), rtol=0, atol=TOLERANCE)
    for mine, theirs in zip(result[1:-1], finals_t, strict=True):
        np.testing.assert_allclose(mine, theirs.detach().numpy()[0], rtol=0, atol=TOLERANCE)

    torch_grads = torch.autograd.grad(out_t, [x_t, *states_t], torch.from_numpy(d_outputs))
    for name, mine, theirs in zip(["d_x", "d_h0", "d_c0"], grads, torch_grads, strict=False):
        np.testing.assert_allclose(mine, theirs.numpy().reshape(mine.shape), rtol=0,
                                   atol=TOLERANCE, err_msg=name)
