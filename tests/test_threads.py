"""Thread safety: several Python threads using chalknet at once get exactly the serial results.

The kernels release the GIL, so threads really overlap inside them.  What makes that safe
(checked by reading the code, see the harden entry in docs/DESIGN.md): GEMM packing
workspaces are ``thread_local``; conv2d/pooling/rnn kernels allocate their scratch per call;
the CTC module works on per-call buffers; the dispatch tables are filled once at import.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chalknet
from chalknet import layers
from chalknet.utils import set_random_seed

THREADS = 4
CALLS_PER_THREAD = 3


def _dense():
    return chalknet.Sequential([chalknet.Input(shape=(20,)), layers.Dense(32, activation="relu"),
                                layers.Dense(5, activation="softmax")]), (20,)


def _convnet():
    return chalknet.Sequential([chalknet.Input(shape=(10, 10, 2)),
                                layers.Conv2D(4, 3, activation="relu", padding="same"),
                                layers.MaxPooling2D(2), layers.Conv2D(6, 3), layers.Flatten(),
                                layers.Dense(3)]), (10, 10, 2)


def _lstm():
    return chalknet.Sequential([chalknet.Input(shape=(7, 3)), layers.LSTM(8, return_sequences=True),
                                layers.GRU(4), layers.Dense(2)]), (7, 3)


def _run_together(work):
    """Run work(i) in THREADS threads released at the same moment; re-raise their errors."""
    barrier = threading.Barrier(THREADS)
    results, errors = [None] * THREADS, []

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("kernel_threads", [1, 2])
@pytest.mark.parametrize("make", [_dense, _convnet, _lstm], ids=["dense", "convnet", "lstm"])
def test_predict_from_four_threads_matches_serial_bit_for_bit(make, kernel_threads):
    before = chalknet.get_num_threads()
    chalknet.set_num_threads(kernel_threads)
    try:
        set_random_seed(0)
        model, shape = make()
        rng = np.random.default_rng(1)
        # Different inputs per thread and call (and batch sizes), so a shared buffer would show.
        inputs = [[rng.standard_normal((5 + i + 3 * j, *shape)).astype(np.float32)
                   for j in range(CALLS_PER_THREAD)] for i in range(THREADS)]
        serial = [[model.predict(x, verbose=0) for x in row] for row in inputs]
        together = _run_together(lambda i: [model.predict(x, verbose=0) for x in inputs[i]])
    finally:
        chalknet.set_num_threads(before)
    for i in range(THREADS):
        for j in range(CALLS_PER_THREAD):
            assert np.array_equal(together[i][j], serial[i][j]), (
                f"thread {i}, call {j}: differs from the serial result by "
                f"{np.max(np.abs(together[i][j] - serial[i][j]))}")


def _fit_model(make, seed):
    set_random_seed(seed)
    model, shape = make()
    model.compile("adam", "mse")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((24, *shape)).astype(np.float32)
    y = rng.standard_normal((24, model.output_shape[-1])).astype(np.float32)
    return model, x, y


def test_concurrent_fit_of_two_models_matches_serial_fit():
    """Two threads train two different models at once; each ends with exactly the weights it
    gets when trained alone.  (The shuffling generator is process-wide, so shuffle=False.)"""
    before = chalknet.get_num_threads()
    chalknet.set_num_threads(1)
    try:
        makes = [_convnet, _lstm, _convnet, _lstm]
        alone = []
        for i, make in enumerate(makes):
            model, x, y = _fit_model(make, i)
            model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
            alone.append(model.get_weights())
        prepared = [_fit_model(make, i) for i, make in enumerate(makes)]

        def train(i):
            model, x, y = prepared[i]
            model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
            return model.get_weights()

        together = _run_together(train)
    finally:
        chalknet.set_num_threads(before)
    for i in range(THREADS):
        for index, (got, want) in enumerate(zip(together[i], alone[i], strict=True)):
            assert np.array_equal(got, want), f"model {i}, weight {index} differs from serial fit"
