"""Reader for the IDX files Fashion-MNIST (and MNIST) ship as (optionally gzipped)."""
from __future__ import annotations

import gzip
import os

import numpy as np

from ..errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file; raise DataError naming the file if it is not a valid IDX array."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e}); re-download or reinstall the dataset") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number); re-download the dataset")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header; re-download the dataset")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: holds {len(raw) - header} data bytes, its header promises {expected}; "
                        f"the file is truncated or corrupt, re-download it")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).copy()


def find_idx(folders: list[str], stem: str) -> str | None:
    """First existing ``stem`` or ``stem.gz`` in ``folders``."""
    for folder in folders:
        for name in (stem + ".gz", stem):
            p = os.path.join(folder, name)
            if os.path.isfile(p):
                return p
    return None
