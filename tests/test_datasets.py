"""Datasets: the bundled digits, the MNIST cache/download path (offline: file:// URLs and a
replaced opener), IDX parsing, and the synthetic sets. No test touches the network."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from chalknet import datasets
from chalknet.datasets import _files, mnist

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
needs_shared = pytest.mark.skipif(not SHARED_MNIST.is_dir(),
                                  reason=f"shared MNIST copies not found at {SHARED_MNIST}")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHALKNET_DATA", str(tmp_path))
    return tmp_path


def no_network(*args, **kwargs):
    raise AssertionError("the network was used")


def test_mnist_mini_shapes_and_known_labels():
    (x_train, y_train), (x_test, y_test) = datasets.mnist_mini.load_data()
    assert x_train.shape == (8000, 28, 28) and y_train.shape == (8000,)
    assert x_test.shape == (2000, 28, 28) and y_test.shape == (2000,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    # MNIST's test set begins 7 2 1 0 4 1 4 9 5 9 and has these class counts (data README).
    assert list(y_train[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert list(counts) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x_train.max() == 255 and x_train.min() == 0


def test_bundled_files_have_the_documented_checksums():
    folder = Path(datasets.__file__).parent / "data"
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert digest in mnist.CHECKSUMS[name]
    assert "CC BY-SA 3.0" in (folder / "README.md").read_text()


@needs_shared
def test_download_via_file_url_and_cache_hit(cache, monkeypatch):
    monkeypatch.setattr(mnist, "MIRRORS", ("file:///nonexistent/", SHARED_MNIST.as_uri() + "/"))
    x_test, y_test = mnist.load_test_data()
    assert x_test.shape == (10000, 28, 28) and list(y_test[:3]) == [7, 2, 1]
    assert (cache / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert not [p for p in (cache / "mnist").iterdir() if p.name.endswith(".part")]
    # Second call: served from the cache, no download.
    monkeypatch.setattr(_files, "_urlopen", no_network)
    x_again, _ = mnist.load_test_data()
    np.testing.assert_array_equal(x_again, x_test)


@needs_shared
def test_checksum_mismatch_keeps_nothing(cache, monkeypatch):
    monkeypatch.setitem(mnist.CHECKSUMS, "t10k-labels-idx1-ubyte.gz", {"0" * 64})
    monkeypatch.setattr(mnist, "MIRRORS", (SHARED_MNIST.as_uri() + "/",))
    with pytest.raises(OSError, match="checksum mismatch"):
        mnist.load_test_data()
    # The images (good checksum) were kept; the labels and any partial file were not.
    assert [p.name for p in (cache / "mnist").iterdir()] == ["t10k-images-idx3-ubyte.gz"]


def test_offline_message(cache, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(_files, "_urlopen", offline)
    with pytest.raises(OSError) as error:
        mnist.load_data()
    message = str(error.value)
    assert "are you offline?" in message and "CHALKNET_DATA" in message
    assert "mnist_mini" in message and str(cache / "mnist") in message


def test_cached_file_with_unknown_checksum_is_refused(cache, monkeypatch):
    monkeypatch.setattr(_files, "_urlopen", no_network)
    folder = cache / "mnist"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(ValueError, match="not one of the known checksums"):
        _files.fetch("mnist", "t10k-labels-idx1-ubyte.gz", mnist.MIRRORS,
                     mnist.CHECKSUMS["t10k-labels-idx1-ubyte.gz"])


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def test_load_data_from_a_prepared_cache(cache, monkeypatch):
    # Four small IDX files whose checksums we accept for this test: load_data's plumbing.
    folder = cache / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28)),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 6),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 2)}
    for name, array in arrays.items():
        write_idx(folder / name, array)
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        monkeypatch.setitem(mnist.CHECKSUMS, name, {digest})
    monkeypatch.setattr(_files, "_urlopen", no_network)
    (x_train, _), (_, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert x_train.dtype == np.uint8


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as file:
        file.write(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        _files.read_idx(bad)
    short = tmp_path / "short.gz"
    with gzip.open(short, "wb") as file:
        file.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 5)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        _files.read_idx(short)


def test_cache_dir_default(monkeypatch):
    monkeypatch.delenv("CHALKNET_DATA", raising=False)
    assert _files.cache_dir() == Path.home() / ".chalknet" / "datasets"


def test_polynomial_regression():
    x, y = datasets.polynomial_regression(n_samples=500, coefficients=(1.0, -2.0, 0.5),
                                          noise=0.0, seed=0)
    assert x.shape == (500, 1) and y.shape == (500, 1) and x.dtype == np.float32
    np.testing.assert_allclose(y, 1.0 - 2.0 * x + 0.5 * x**2, rtol=0, atol=1e-5)
    _, noisy = datasets.polynomial_regression(n_samples=2000, noise=0.1, seed=0)
    _, clean = datasets.polynomial_regression(n_samples=2000, noise=0.0, seed=0)
    assert np.std(noisy - clean) == pytest.approx(0.1, rel=0.1)


def test_spirals_and_xor():
    x, y = datasets.spirals(n_samples=301, seed=0)
    assert x.shape == (301, 2) and set(np.unique(y)) == {0, 1}
    assert np.bincount(y).tolist() == [150, 151]
    assert np.abs(x).max() < 1.2
    _, y4 = datasets.xor()
    np.testing.assert_array_equal(y4.ravel(), [0, 1, 1, 0])
    xs, ys = datasets.xor(n_samples=100, noise=0.05, seed=1)
    corner = np.round(xs).astype(int)
    np.testing.assert_array_equal(ys.ravel(), corner[:, 0] ^ corner[:, 1])


SHARED_TEXT = SHARED_MNIST.parent / "tinyshakespeare"


@pytest.mark.skipif(not SHARED_TEXT.is_dir(), reason=f"shared copy not found at {SHARED_TEXT}")
def test_tinyshakespeare_via_file_url(cache, monkeypatch):
    from chalknet.datasets import tinyshakespeare

    monkeypatch.setattr(tinyshakespeare, "MIRRORS", (SHARED_TEXT.as_uri() + "/",))
    text = tinyshakespeare.load_data()
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")
    assert (cache / "tinyshakespeare" / "input.txt").is_file()


def test_sine_sequences_targets_continue_the_wave():
    x, y = datasets.sine_sequences(n_samples=20, steps=30, noise=0.0, seed=0)
    assert x.shape == (20, 30, 1) and y.shape == (20, 1) and x.dtype == np.float32
    # A sampled sinusoid obeys s[t+1] + s[t-1] = 2 cos(f) s[t]: fit cos(f) on the window
    # (least squares), then the target must continue the recurrence.
    s = np.concatenate([x[:, :, 0], y], axis=1).astype(np.float64)
    window = s[:, :-1]
    cos_f = np.sum((window[:, 2:] + window[:, :-2]) * window[:, 1:-1], axis=1) / (
        2 * np.sum(window[:, 1:-1] ** 2, axis=1))
    predicted = 2 * cos_f * s[:, -2] - s[:, -3]
    np.testing.assert_allclose(predicted, s[:, -1], atol=2e-3)
