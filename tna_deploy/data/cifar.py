"""CIFAR-10 / CIFAR-100: the python-pickle batches of the official archives, read without running code.

The batches are pickles (dicts of labels, bytes and one numpy array), and a pickle can call anything
it names. ``BatchUnpickler`` admits only the few numpy constructors the format holds, so a crafted
batch in --data-dir is refused by name instead of running. Downloads (torchvision's helper) check
the archive's md5.
"""

from __future__ import annotations

import codecs
import io
import math
import os
import pickle
import struct

import numpy as np

from ..errors import DataError

# name: (folder, files per split, label key, archive url, archive md5) as in torchvision's readers
LAYOUT = {
    "cifar10": (
        "cifar-10-batches-py",
        {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
        "labels",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
    ),
    "cifar100": (
        "cifar-100-python",
        {"train": ["train"], "test": ["test"]},
        "fine_labels",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
    ),
}

# what a numpy array (any pickle protocol, numpy 1.x or 2.x module names) needs, and nothing else;
# numpy.ndarray itself is only ever an argument of _reconstruct (see _NdarrayToken), never called
_NUMPY = {("numpy", "dtype")} | {
    (m, n)
    for core in ("numpy.core", "numpy._core")
    for m, n in (
        (f"{core}.multiarray", "_reconstruct"),
        (f"{core}.multiarray", "scalar"),
        (f"{core}.numeric", "_frombuffer"),
    )
}


class Refused(pickle.UnpicklingError):
    """The pickle names a callable outside the allow-list."""


class _NdarrayToken:
    """What the unpickler hands out for ``numpy.ndarray``: a pickled array names the class only as the
    first argument of ``_reconstruct``, but a crafted pickle could call it, ``ndarray(shape, dtype)``,
    and get whatever allocation its shape asks for. The token stands for the class in that argument
    and refuses to be called."""

    def __call__(self, *args, **kwargs):
        raise Refused("refusing a direct call of numpy.ndarray (it allocates what the file asks)")


_NDARRAY = _NdarrayToken()


def _latin1_encode(text, encoding="latin1", errors="strict"):
    """Protocol-2 pickles written by Python 3 store bytes as ``_codecs.encode(str, 'latin1')``."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise Refused(f"refusing _codecs.encode with {encoding!r}")
    return codecs.encode(text, "latin1", errors)


class BatchUnpickler(pickle._Unpickler):
    """An unpickler that builds dicts, lists, strings, bytes, numbers and numpy arrays only.

    It is Python's pure-Python unpickler, fed from memory (``data``): the C one keeps its memo in an
    array, so one damaged ``LONG_BINPUT`` index (4 bytes) makes it allocate gigabytes; here the memo is a
    dict, reads stop at the end of the data, and nothing it builds may be larger than the data itself
    (``BYTEARRAY8`` and numpy's ``_reconstruct`` would allocate what a length field says first)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes, **kw):
        super().__init__(io.BytesIO(data), **kw)
        self.limit = len(data)

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY
        if (module, name) in _NUMPY:
            found = super().find_class(module, name)
            return self._bounded_reconstruct(found) if name == "_reconstruct" else found
        raise Refused(f"refusing {module}.{name}")

    def _bounded_reconstruct(self, reconstruct):
        def checked(subtype, shape, dtype):
            dt = np.dtype(dtype)
            if (
                subtype is not _NDARRAY
                or dt.hasobject
                or not isinstance(shape, tuple)
                or not all(isinstance(n, int) and n >= 0 for n in shape)
                or math.prod(shape) * dt.itemsize > self.limit
            ):
                raise Refused(f"refusing an array of shape {str(shape)[:40]} and type {dt}")
            return reconstruct(np.ndarray, shape, dtype)

        return checked

    def load_bytearray8(self):
        (n,) = struct.unpack("<Q", self.read(8))
        if n > self.limit:
            raise pickle.UnpicklingError(f"a bytearray of {n} bytes in a pickle of {self.limit}")
        self.append(bytearray(self.read(n)))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def read_batch(path: str, label_key: str) -> tuple[np.ndarray, list]:
    """(N, 3072) pixel rows and N labels of one batch file; anything else is a one-line DataError."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        entry = BatchUnpickler(raw, encoding="latin1").load()
    except Refused as e:
        raise DataError(
            f"{path}: not a CIFAR batch, the pickle asks for more than plain data ({e}); "
            f"re-download the python version of the dataset"
        ) from None
    except Exception as e:  # noqa: BLE001 -- any failure of a truncated or garbage file is one line
        raise DataError(
            f"{path}: cannot read ({type(e).__name__}: {str(e)[:100]}); "
            f"re-download the python version of the dataset"
        ) from None
    if not isinstance(entry, dict):
        raise DataError(f"{path}: not a CIFAR batch (a {type(entry).__name__}, not a dict)")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data, labels = entry.get("data"), entry.get(label_key)
    if (
        not isinstance(data, np.ndarray)
        or data.ndim != 2
        or data.shape[1] != 3072
        or data.dtype.kind not in "ui"
    ):
        raise DataError(f"{path}: field data must be an (N, 3072) integer array of pixels")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise DataError(f"{path}: field {label_key} must hold one label per image ({len(data)})")
    if data.size and (data.min() < 0 or data.max() > 255):
        raise DataError(f"{path}: field data holds values outside 0..255")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{path}: field {label_key} must hold integer labels") from None
    return data, labels


def _download(name: str, root: str, folder: str) -> None:
    _, _, _, url, md5 = LAYOUT[name]
    try:
        from torchvision.datasets.utils import download_and_extract_archive
    except ImportError:
        raise DataError(
            f"{name} not found in {folder}; downloading it needs torchvision (pip install "
            f"'tna-deploy[train]'), or extract the python version of the archive into --data-dir"
        ) from None
    try:
        download_and_extract_archive(url, root, filename=os.path.basename(url), md5=md5)
    except Exception as e:  # noqa: BLE001 -- offline, a wrong checksum, a full disk
        raise DataError(
            f"{name} not found in {folder} and the download failed ({type(e).__name__}); "
            f"download the python version of the archive and extract it into --data-dir"
        ) from None


def load_cifar(name: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64; ``name`` is 'cifar10' or 'cifar100'."""
    base, files, label_key, _, _ = LAYOUT[name]
    root = data_dir or os.path.join(os.path.expanduser("~"), ".cache", "tna-deploy", "data")
    folder = os.path.join(root, base)
    if not os.path.isdir(folder):
        _download(name, root, folder)
    paths = [os.path.join(folder, f) for f in files[split]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DataError(f"{missing[0]}: missing; re-download the python version of the dataset")
    batches = [read_batch(p, label_key) for p in paths]
    x = np.concatenate([d for d, _ in batches]).reshape(-1, 3, 32, 32)
    return np.ascontiguousarray(x.astype(np.uint8)), np.concatenate([y for _, y in batches])


def load(cfg, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The registry's reader (data/registry.py), for cifar10 and cifar100."""
    return load_cifar(cfg.dataset, split, cfg.data_dir)
