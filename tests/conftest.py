"""Settings for the whole test run: no network, and datasets from the repository's neighbour.

The tests never download.  ``CHALKNET_DATA`` points at a fresh folder for the session, holding
tiny-shakespeare when ``../shared/data`` (beside the repository, as on the developers' and CI's
machines) has it; anything a test asks for that is not there fails at once with the offline
message instead of reaching the network.  Tests that check downloading give ``file://`` mirrors,
which are still allowed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chalknet.datasets import _files


def _available_isas():
    from chalknet import ops

    return ops.available_isas()


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _offline_urlopen(real_urlopen):
    def urlopen(url, *args, **kwargs):
        if str(getattr(url, "full_url", url)).startswith("file:"):
            return real_urlopen(url, *args, **kwargs)
        raise OSError(f"the tests run offline; refused to open {url}")
    return urlopen


@pytest.fixture(scope="session", autouse=True)
def offline_datasets(tmp_path_factory):
    cache = tmp_path_factory.mktemp("chalknet-data")
    corpus = SHARED_DATA / "tinyshakespeare" / "input.txt"
    if corpus.exists():
        (cache / "tinyshakespeare").mkdir()
        shutil.copy(corpus, cache / "tinyshakespeare" / "input.txt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHALKNET_DATA", str(cache))
        patch.setattr(_files, "_urlopen", _offline_urlopen(_files._urlopen))
        yield cache


# Tests run every kernel's parallel path whenever its own size threshold allows, as if waking
# sleeping threads cost nothing (csrc/kernels/team.h): which path runs never changes a result,
# and with the real cost a sleeping team would send the 1-versus-2-threads tests down the
# serial path twice.  test_threads.py checks the choice itself.
ALWAYS_WAKE = "from chalknet import ops; ops._override_cold_region(0)"


@pytest.fixture(scope="session", autouse=True)
def always_wake_the_team():
    from chalknet import ops

    ops._override_cold_region(0)
    yield
    ops._override_cold_region(-1)


@pytest.fixture
def one_thread():
    """Run a test on one kernel thread (files opt in with ``pytestmark``): their hundreds of
    tiny kernel calls gain nothing from a second thread, and on a loaded machine each OpenMP
    hand-off used to cost milliseconds (DESIGN.md, "OpenMP wait policy")."""
    import chalknet

    threads = chalknet.get_num_threads()
    chalknet.set_num_threads(1)
    yield
    chalknet.set_num_threads(threads)


@pytest.fixture(params=_available_isas())
def isa(request):
    """Run a test once per instruction-set path this machine has (kernels built per set)."""
    from chalknet import build_info, ops

    before = build_info()["simd"]
    ops._set_isa(request.param)
    yield request.param
    ops._set_isa(before)


@pytest.fixture
def under_thread_limits(tmp_path):
    """run(code) runs Python ``code`` in a fresh process under OMP_THREAD_LIMIT=1 and then =2
    (libgomp reads it at start-up), with the tests folder as sys.argv[2]; the code saves its
    arrays with ``np.savez(sys.argv[1], *arrays)``.  Returns the two lists of arrays."""
    def run(code):
        results = []
        for limit in ("1", "2"):
            out = tmp_path / f"limit{limit}.npz"
            env = {**os.environ, "OMP_THREAD_LIMIT": limit}
            subprocess.run([sys.executable, "-c", f"{ALWAYS_WAKE}\n{code}", str(out),
                            str(Path(__file__).parent)],
                           env=env, check=True, timeout=120)
            with np.load(out) as saved:
                results.append([saved[f"arr_{i}"] for i in range(len(saved.files))])
        return results
    return run
