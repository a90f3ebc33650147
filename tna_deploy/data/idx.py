"""Reader for the IDX files Fashion-MNIST (and MNIST) ship as (optionally gzipped)."""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from ..errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


MAX_BYTES = 1 << 32  # no IDX dataset comes near 4 GiB of pixels; a header promising more is damaged


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file; raise DataError naming the file if it is not a valid IDX array.

    The header is read first and the data only up to the size it promises (plus one byte, to tell a
    longer file), so neither a damaged header nor a gzip bomb can make it allocate more."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _DTYPES:
                raise DataError(
                    f"{path}: not an IDX file (bad magic number); re-download the dataset"
                )
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header; re-download the dataset")
            dims = tuple(int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            dtype = np.dtype(_DTYPES[head[2]])
            expected = math.prod(dims) * dtype.itemsize
            if expected > MAX_BYTES:
                raise DataError(
                    f"{path}: its header promises {expected} data bytes (shape {dims}), more than any "
                    f"IDX dataset; the file is corrupt, re-download it"
                )
            data = f.read(expected + 1)
    except DataError:
        raise
    except (
        OSError,
        EOFError,
        zlib.error,
    ) as e:  # a damaged gzip stream raises zlib.error, BadGzipFile, EOFError
        raise DataError(
            f"{path}: cannot read ({type(e).__name__}: {str(e)[:80]}); re-download or reinstall the "
            f"dataset"
        ) from None
    if len(data) != expected:
        raise DataError(
            f"{path}: holds {len(data)}{'+' if len(data) > expected else ''} data bytes, its header "
            f"promises {expected}; the file is truncated or corrupt, re-download it"
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims).copy()


def find_idx(folders: list[str], stem: str) -> str | None:
    """First existing ``stem`` or ``stem.gz`` in ``folders``."""
    for folder in folders:
        for name in (stem + ".gz", stem):
            p = os.path.join(folder, name)
            if os.path.isfile(p):
                return p
    return None
