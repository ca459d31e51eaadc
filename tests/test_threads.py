"""Thread safety: several Python threads using chalknet at once get exactly the serial results.

The kernels release the GIL, so threads really overlap inside them.  What makes that safe
(checked by reading the code, see the harden entry in docs/DESIGN.md): GEMM packing
workspaces are ``thread_local``; conv2d/pooling/rnn kernels allocate their scratch per call;
the CTC module works on per-call buffers; the dispatch tables are filled once at import.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import chalknet
from chalknet import layers, ops
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


# ----- when a kernel wakes the other threads (csrc/kernels/team.h) --------------------------

needs_openmp = pytest.mark.skipif(not chalknet.build_info()["openmp"],
                                  reason="built without OpenMP: the kernels never start a team")


@pytest.fixture
def two_threads():
    saved = chalknet.get_num_threads()
    chalknet.set_num_threads(2)
    yield
    ops._override_cold_region(0)  # what conftest sets for every other test
    chalknet.set_num_threads(saved)


def _kernel_calls():
    """One call per kind of parallel region, each above its kernel's own size threshold."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((128, 128)).astype(np.float32) for _ in range(2))
    x = rng.standard_normal(1 << 17).astype(np.float32)
    images = rng.standard_normal((4, 8, 8, 16)).astype(np.float32)
    seq, h0, c0 = (rng.standard_normal(shape).astype(np.float32)
                   for shape in ((16, 3, 8), (16, 64), (16, 64)))
    kernel, recurrent = (rng.standard_normal(shape).astype(np.float32) * 0.1
                         for shape in ((8, 256), (64, 256)))
    return {"matmul": lambda: [ops.matmul(a, b)],
            "relu_backward": lambda: [ops.relu_backward(x, x)],
            "max_pool2d": lambda: [ops.max_pool2d(images, 2)],
            "lstm": lambda: list(ops.lstm(seq, h0, c0, kernel, recurrent)[:2])}


@needs_openmp
@pytest.mark.parametrize("name", list(_kernel_calls()))
def test_a_sleeping_team_is_woken_only_when_that_pays(name, two_threads):
    call = _kernel_calls()[name]

    def run_after_a_pause(cold_region_ns):
        ops._override_cold_region(cold_region_ns)
        time.sleep(0.002)  # no parallel region in the last 8 us: the team sleeps
        before = ops._parallel_choices()
        results = call()
        return results, ops._parallel_choices() - before

    serial, regions_when_dear = run_after_a_pause(10**10)
    parallel, regions_when_free = run_after_a_pause(0)
    assert regions_when_dear == 0, f"{name} woke the team although that costs 10 s"
    assert regions_when_free > 0, f"{name} stayed on one thread although waking costs nothing"
    for got, want in zip(parallel, serial, strict=True):
        assert np.array_equal(got, want), f"{name}: the parallel result differs from the serial"


@needs_openmp
def test_with_the_built_in_cost_only_long_products_wake_a_sleeping_team(two_threads):
    """128^3 (~25 us on one thread) stays on the caller; 512^3 (~1.6 ms) is split."""
    ops._override_cold_region(-1)
    rng = np.random.default_rng(1)
    regions = {}
    for n in (128, 512):
        a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
        time.sleep(0.002)
        before = ops._parallel_choices()
        ops.matmul(a, b)
        regions[n] = ops._parallel_choices() - before
    assert regions == {128: 0, 512: 1}
