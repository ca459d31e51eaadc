"""Saving and loading models: one file, JSON architecture plus NumPy arrays, no pickle.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding:

- ``__chalknet__``: a JSON header (as UTF-8 bytes) with the format name ``"chalknet-model"``,
  the format version, the model's class name and ``get_config()``, the compile settings, and
  the shape, dtype and SHA-256 of every array;
- ``weight_00000``, ...: the model's weights in ``model.get_weights()`` order;
- ``optimizer_00000``, ...: the optimizer's state (``optimizer.get_state()``), when saved.

It is read with ``allow_pickle=False``, so loading a file can never run code. Files are written
to a temporary file in the same folder and renamed over the target (``os.replace``), so a crash
never leaves half a model behind. Any file that is truncated, corrupted, not ours or from a newer
format raises a ValueError that says which.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
import zlib
from typing import TYPE_CHECKING

import numpy as np

from ._version import __version__

if TYPE_CHECKING:
    from .models import Model

FORMAT_NAME = "chalknet-model"
FORMAT_VERSION = 1
_HEADER_KEY = "__chalknet__"


# ----- writing -----------------------------------------------------------------------------------


def _array_record(array: np.ndarray) -> dict:
    array = np.asarray(array)  # tobytes() is in C order whatever the memory layout
    return {"shape": list(array.shape), "dtype": array.dtype.str,
            "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def _serialize_object(identifier):
    """A loss or metric as written in compile: a name, or a class name with its config."""
    if isinstance(identifier, str):
        return identifier
    if hasattr(identifier, "get_config"):
        record = {"class_name": type(identifier).__name__, "config": identifier.get_config()}
        try:
            json.dumps(record)
            return record
        except TypeError:
            return None  # its configuration holds objects that JSON cannot write
    return None  # a plain function: cannot be written down


def _compile_record(model, include_optimizer: bool):
    if not getattr(model, "compiled", False):
        return None, []
    from . import optimizers

    identifiers = model._compile_identifiers
    record = {"loss": _serialize_object(identifiers["loss"]),
              "metrics": [_serialize_object(m) for m in identifiers["metrics"]],
              "optimizer": optimizers.serialize(model.optimizer)}
    state = []
    if include_optimizer and model.optimizer.variables:
        parameters = _parameter_arrays(model)
        positions = {id(array): i for i, array in enumerate(parameters)}
        indices = [positions.get(id(v)) for v in model.optimizer.variables]
        if None in indices:
            warnings.warn("save: the optimizer holds state for arrays that are not this "
                          "model's weights; its state is not saved", stacklevel=3)
        else:
            record["optimizer_variables"] = indices
            state = model.optimizer.get_state()
    return record, state


def _parameter_arrays(model) -> list[np.ndarray]:
    """The model's weight arrays themselves (not copies), in ``get_weights()`` order."""
    return model.weights


def _write_atomically(filepath, arrays: dict) -> None:
    filepath = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(filepath))
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".chalknet-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, filepath)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _save(model, filepath, kind: str, include_optimizer: bool) -> None:
    weights = model.get_weights()
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind,
              "chalknet_version": __version__,
              "model": {"class_name": type(model).__name__, "config": model.get_config()},
              "built": bool(model.built),
              "weights": [_array_record(w) for w in weights]}
    optimizer_state = []
    if kind == "model":
        header["compile"], optimizer_state = _compile_record(model, include_optimizer)
        header["optimizer_state"] = [_array_record(s) for s in optimizer_state]
    arrays = {f"weight_{i:05d}": w for i, w in enumerate(weights)}
    arrays.update({f"optimizer_{i:05d}": s for i, s in enumerate(optimizer_state)})
    arrays[_HEADER_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    _write_atomically(filepath, arrays)


def save_model(model: Model, filepath: str | os.PathLike,
               include_optimizer: bool = True) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state) to one file."""
    _save(model, filepath, "model", include_optimizer)


def save_weights(model: Model, filepath: str | os.PathLike) -> None:
    """Write only the weights (with the architecture, to check them against on loading)."""
    _save(model, filepath, "weights", include_optimizer=False)


# ----- reading -----------------------------------------------------------------------------------


def _read(filepath) -> tuple[dict, dict]:
    """The header and the arrays of a chalknet file, every array checked against the header."""
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"no such model file: {filepath!r}")
    problem = f"{filepath!r} is not a readable chalknet model file"
    with open(filepath, "rb") as file:
        magic = file.read(4)
    if magic != b"PK\x03\x04":
        raise ValueError(f"{problem}: it does not start like a chalknet (.npz) archive "
                         f"(first bytes {magic!r})")
    try:
        with np.load(filepath, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError(f"{problem}: it holds a single NumPy array, not a model")
            if _HEADER_KEY not in archive.files:
                raise ValueError(
                    f"{problem}: it is a NumPy archive without a chalknet header (saved by "
                    "something else?)"
                )
            header = json.loads(archive[_HEADER_KEY].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != _HEADER_KEY}
    except ValueError as error:
        if str(error).startswith(problem):
            raise
        raise ValueError(f"{problem}: {error}") from error
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError,
            UnicodeDecodeError) as error:
        raise ValueError(f"{problem}: the file is truncated or corrupted ({error})") from error
    _check_header(header, filepath)
    for prefix, records in (("weight", header["weights"]),
                            ("optimizer", header.get("optimizer_state", []))):
        for i, record in enumerate(records):
            name = f"{prefix}_{i:05d}"
            array = arrays.get(name)
            if array is None:
                raise ValueError(f"{problem}: array {name} is missing (the file is corrupted)")
            if (list(array.shape) != record["shape"] or array.dtype.str != record["dtype"]
                    or hashlib.sha256(array.tobytes()).hexdigest()
                    != record["sha256"]):
                raise ValueError(f"{problem}: array {name} does not match its checksum "
                                 "(the file is corrupted)")
    return header, arrays


def _check_header(header, filepath) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"{filepath!r} is not a chalknet model file (format "
                         f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ValueError(
            f"{filepath!r} has format version {version!r}; this chalknet ({__version__}) reads "
            f"versions 1 to {FORMAT_VERSION}. Upgrade chalknet to read it."
        )
    for key in ("model", "weights", "kind"):
        if key not in header:
            raise ValueError(f"{filepath!r}: the chalknet header has no {key!r} entry")


def _model_from_record(record: dict):
    from .layers.base import get_layer_class

    return get_layer_class(record["class_name"]).from_config(record["config"])


def _set_weights(model, header, arrays, filepath) -> None:
    weights = [arrays[f"weight_{i:05d}"] for i in range(len(header["weights"]))]
    if weights and not model.built:
        raise ValueError(f"{filepath!r}: the saved model has weights but no input shape to "
                         "build it with")
    current = model.get_weights()
    shapes = [tuple(w.shape) for w in weights]
    if [tuple(w.shape) for w in current] != shapes:
        raise ValueError(
            f"{filepath!r}: the saved weights have shapes {shapes}, the model "
            f"{model.name!r} has {[tuple(w.shape) for w in current]}"
        )
    model.set_weights(weights)


def _deserialize_object(record, module, what: str):
    if isinstance(record, str):
        return record
    if isinstance(record, dict) and hasattr(module, record.get("class_name", "")):
        return getattr(module, record["class_name"])(**record.get("config", {}))
    raise ValueError(f"the saved {what} cannot be recreated (a custom function or class)")


def _compile_from_record(model, header, arrays, filepath) -> None:
    from . import losses, metrics, optimizers

    record = header.get("compile")
    if not record:
        return
    try:
        loss = _deserialize_object(record["loss"], losses, "loss")
        metric_list = [_deserialize_object(m, metrics, "metric") for m in record["metrics"]]
    except ValueError as error:
        warnings.warn(f"load_model({filepath!r}): {error}; the model is returned uncompiled, "
                      "call compile() yourself", stacklevel=3)
        return
    model.compile(optimizer=optimizers.deserialize(record["optimizer"]), loss=loss,
                  metrics=metric_list)
    indices = record.get("optimizer_variables")
    if indices is not None:
        parameters = _parameter_arrays(model)
        state = [arrays[f"optimizer_{i:05d}"] for i in range(len(header["optimizer_state"]))]
        model.optimizer.set_state(state, [parameters[i] for i in indices])


def load_model(filepath: str | os.PathLike, compile: bool = True) -> Model:
    """Recreate a model saved with ``model.save``: same layers, same weights bit for bit,
    compiled with the same optimizer (and its state) when ``compile`` is True."""
    header, arrays = _read(filepath)
    if header["kind"] != "model":
        raise ValueError(f"{os.fspath(filepath)!r} holds only weights; build the model and call "
                         "model.load_weights() instead")
    model = _model_from_record(header["model"])
    _set_weights(model, header, arrays, os.fspath(filepath))
    if compile:
        _compile_from_record(model, header, arrays, os.fspath(filepath))
    return model


def load_weights(model: Model, filepath: str | os.PathLike) -> None:
    """Set ``model``'s weights from a file written by ``save_weights`` or ``save``."""
    header, arrays = _read(filepath)
    if not model.built and header.get("model", {}).get("config", {}).get("input_shape"):
        model.build(tuple(header["model"]["config"]["input_shape"]))
    _set_weights(model, header, arrays, os.fspath(filepath))


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_model", "load_weights", "save_model",
           "save_weights"]
