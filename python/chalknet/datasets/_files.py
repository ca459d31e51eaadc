"""Reading IDX files and downloading dataset files into the cache folder.

The cache folder is ``$CHALKNET_DATA`` when set, else ``~/.chalknet/datasets``; each dataset
keeps its files in a subfolder (``<cache>/mnist/...``). A download goes to a temporary file in
that folder, is checked against the accepted SHA-256 checksums, and only then renamed to its
final name, so an interrupted or corrupted download never looks like a good file. Nothing here
touches the network unless a file is missing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Container, Iterable
from pathlib import Path

import numpy as np

# Opens a URL and returns a file-like response; tests replace it to stay offline.
_urlopen = urllib.request.urlopen

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
               0x0E: ">f8"}


def cache_dir() -> Path:
    """The folder datasets are kept in: $CHALKNET_DATA, else ~/.chalknet/datasets."""
    root = os.environ.get("CHALKNET_DATA")
    return Path(root) if root else Path.home() / ".chalknet" / "datasets"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a NumPy array.

    IDX: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then
    each dimension as a big-endian uint32, then the values in C order.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as file:
        data = file.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (header {data[:4]!r})")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header_size + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes), the file "
                         f"has {len(data)} bytes (truncated or corrupted)")
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape).astype(
        dtype.newbyteorder("="))


def fetch(dataset: str, filename: str, mirrors: Iterable[str],
          accepted_sha256: Container[str]) -> Path:
    """The path of ``<cache>/<dataset>/<filename>``, downloaded from the first mirror that
    works when it is not there yet. A file whose checksum is not accepted is an error."""
    folder = cache_dir() / dataset
    path = folder / filename
    if path.exists():
        digest = sha256_of(path)
        if digest not in accepted_sha256:
            raise ValueError(
                f"{path} has sha256 {digest}, which is not one of the known checksums of "
                f"{filename}; delete it to download it again"
            )
        return path
    folder.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            _download(url, path, accepted_sha256)
            return path
        except (urllib.error.URLError, OSError, ValueError) as error:
            errors.append(f"  {url}: {error}")
    raise OSError(
        f"could not download {filename} for the {dataset} dataset (are you offline?):\n"
        + "\n".join(errors)
        + f"\nDownload it by hand from one of those addresses and put it at {path}, or set "
        "CHALKNET_DATA to a folder that has a '" + dataset + "' subfolder holding it. "
        "For a small offline MNIST, use chalknet.datasets.mnist_mini.load_data()."
    )


def _download(url: str, path: Path, accepted_sha256: Container[str]) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(descriptor, "wb") as out, _urlopen(url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 16), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() not in accepted_sha256:
            raise ValueError(f"checksum mismatch: got sha256 {digest.hexdigest()}")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
