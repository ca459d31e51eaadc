"""Saving: exact round trips (predictions, weights, optimizer state), and clear errors for files
that are truncated, corrupted, foreign or from a newer format; atomic writes; no pickle."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

import chalknet
from chalknet import layers, optimizers, saving
from chalknet.models import load_model
from chalknet.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("one_thread")


def trained_model(dtype="float32"):
    set_random_seed(0)
    model = chalknet.Sequential([
        chalknet.Input(shape=(6,)),
        layers.Dense(5, activation="relu", dtype=dtype,
                     kernel_regularizer=chalknet.regularizers.L2(0.01)),
        layers.Dense(3, activation="softmax", dtype=dtype)], name="net")
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(*data(), epochs=2, verbose=0)
    return model


def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_exact(tmp_path, dtype):
    model = trained_model(dtype)
    path = tmp_path / "model.chalknet"
    model.save(path)
    restored = load_model(path)
    x, y = data()
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))
    for a, b in zip(restored.get_weights(), model.get_weights(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert restored.name == "net"
    assert [type(layer).__name__ for layer in restored.layers] == ["Dense", "Dense"]
    assert restored.layers[0].activation.name == "relu"
    # Optimizer state came along: one more epoch gives identical weights on both.
    assert restored.optimizer.iterations == model.optimizer.iterations
    assert type(restored.optimizer) is optimizers.Adam
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    restored.fit(x, y, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(restored.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_file_is_an_npz_without_pickles(tmp_path):
    path = tmp_path / "model.chalknet"
    trained_model().save(path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["__chalknet__"].tobytes())
        assert header["format"] == "chalknet-model" and header["format_version"] == 1
        assert all(archive[name].dtype != object for name in archive.files)


def test_load_without_compile_and_frozen_flags(tmp_path):
    model = trained_model()
    model.layers[0].trainable = False
    path = tmp_path / "m.chalknet"
    model.save(path, include_optimizer=False)
    restored = load_model(path, compile=False)
    assert not restored.compiled
    assert restored.layers[0].trainable is False and restored.layers[1].trainable is True
    with_compile = load_model(path)
    assert with_compile.compiled and with_compile.optimizer.iterations == 0


def test_nested_model_round_trip(tmp_path):
    set_random_seed(0)
    inner = chalknet.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,))])
    outer = chalknet.Sequential([inner, layers.Dense(2)])
    path = tmp_path / "nested.chalknet"
    outer.save(path)
    restored = load_model(path)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(restored.predict(x), outer.predict(x))
    assert type(restored.layers[0]) is chalknet.Sequential


def test_weights_only(tmp_path):
    model = trained_model()
    path = tmp_path / "w.chalknet"
    model.save_weights(path)
    other = chalknet.Sequential([chalknet.Input(shape=(6,)), layers.Dense(5), layers.Dense(3)])
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="holds only weights"):
        load_model(path)
    wrong = chalknet.Sequential([chalknet.Input(shape=(6,)), layers.Dense(4), layers.Dense(3)])
    with pytest.raises(ValueError, match="saved weights have shapes"):
        wrong.load_weights(path)


def saved_bytes(tmp_path) -> bytes:
    path = tmp_path / "good.chalknet"
    trained_model().save(path)
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.1])
def test_truncated_file(tmp_path, keep):
    good = saved_bytes(tmp_path)
    path = tmp_path / "cut.chalknet"
    path.write_bytes(good[:int(len(good) * keep)])
    with pytest.raises(ValueError, match="not a readable chalknet model file: the file is "
                                         "truncated or corrupted"):
        load_model(path)


def test_corrupted_bytes(tmp_path):
    good = bytearray(saved_bytes(tmp_path))
    # Flip one byte inside the first weight array's data (after its .npy header).
    start = good.index(b"weight_00000.npy") + 200
    good[start] ^= 0xFF
    path = tmp_path / "bad.chalknet"
    path.write_bytes(bytes(good))
    with pytest.raises(ValueError, match="corrupted"):
        load_model(path)


def test_array_swapped_inside_a_valid_archive(tmp_path):
    # A well-formed archive whose array does not match the header's checksum.
    path = tmp_path / "m.chalknet"
    trained_model().save(path)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["weight_00000"] = arrays["weight_00000"] + 1
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ValueError, match="weight_00000 does not match its checksum"):
        load_model(path)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="does not start like a chalknet"):
        load_model(text)
    plain_npz = tmp_path / "other.npz"
    np.savez(plain_npz, a=np.ones(3))
    with pytest.raises(ValueError, match="without a chalknet header"):
        load_model(plain_npz)
    zipped = tmp_path / "archive.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "not numpy")
    with pytest.raises(ValueError, match="not a readable chalknet model file"):
        load_model(zipped)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load_model(tmp_path / "missing.chalknet")


def rewrite_header(path, change):
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["__chalknet__"].tobytes())
    change(header)
    arrays["__chalknet__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def test_wrong_format_name_and_newer_version(tmp_path):
    path = tmp_path / "m.chalknet"
    trained_model().save(path)
    rewrite_header(path, lambda h: h.update(format_version=99))
    with pytest.raises(ValueError, match=r"format version 99; this chalknet .* reads versions 1 "
                                         r"to 1\. Upgrade chalknet"):
        load_model(path)
    rewrite_header(path, lambda h: h.update(format="something-else", format_version=1))
    with pytest.raises(ValueError, match="is not a chalknet model file"):
        load_model(path)


def test_atomic_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.chalknet"
    model = trained_model()
    model.save(path)
    before = path.read_bytes()

    def fail(file, **arrays):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(saving.np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.chalknet"]


def test_header_is_json_we_can_read_back(tmp_path):
    # The architecture part is plain JSON: class names and get_config() of each layer.
    path = tmp_path / "m.chalknet"
    trained_model().save(path)
    with np.load(path) as archive:
        header = json.load(io.BytesIO(archive["__chalknet__"].tobytes()))
    layers_config = header["model"]["config"]["layers"]
    assert [entry["class_name"] for entry in layers_config] == ["Dense", "Dense"]
    assert layers_config[0]["config"]["units"] == 5
    assert header["compile"]["loss"] == "sparse_categorical_crossentropy"


def test_custom_loss_loads_uncompiled_with_a_warning(tmp_path):
    class Halved(chalknet.losses.MeanSquaredError):
        """A loss class chalknet.losses does not know."""

    set_random_seed(0)
    model = chalknet.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", Halved())
    path = tmp_path / "m.chalknet"
    model.save(path)
    with pytest.warns(UserWarning, match="cannot be recreated"):
        restored = load_model(path)
    assert not restored.compiled
    np.testing.assert_array_equal(restored.get_weights()[0], model.get_weights()[0])
