"""Reading netx HDF5 fields as ``lava.lib.dl.netx`` does (NX = lava/lib/dl/netx), shared by the layer and
neuron kinds: values through ``astype(int)`` (utils.py NetDict), every dataset bounded in size, one
``ValueError`` naming the field for anything else. Writing helpers for the same fields."""

from __future__ import annotations

import numpy as np


class Reader:
    """Reads datasets of one open file, each bounded in size (a damaged header cannot make it allocate
    more than a legitimate file of this size could hold)."""

    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, g, name: str, needs: str = ""):
        import h5py

        if name not in g:
            raise ValueError(f"its {name!r} field is missing" + (f" ({needs})" if needs else ""))
        ds = g[name]
        if not isinstance(ds, h5py.Dataset):
            raise ValueError(f"its {name!r} field is a group, expected a dataset")
        n = int(np.prod(ds.shape, dtype=np.float64)) if ds.shape is not None else 0
        if n * max(ds.dtype.itemsize, 1) > self.limit:
            raise ValueError(
                f"its {name!r} dataset claims shape {ds.shape}, more than the file can hold"
            )
        return ds[()]


def text(v) -> str:
    v = np.asarray(v)
    v = v.reshape(-1)[0] if v.size else ""
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def ints(v, what: str) -> tuple:
    v = np.atleast_1d(np.asarray(v))
    if (
        v.ndim != 1
        or v.dtype.kind not in "uif"
        or not np.isfinite(v).all()
        or (v != np.round(v)).any()
    ):
        raise ValueError(f"{what} is {v.dtype} of shape {v.shape}, expected a list of integers")
    if np.abs(v).max(initial=0) > 1 << 31:
        raise ValueError(f"{what} holds {int(np.abs(v).max())}, beyond any real network")
    return tuple(int(x) for x in v)


def integers(v, what: str) -> np.ndarray:
    v = np.asarray(v)
    if v.dtype.kind not in "uifb" or (v.dtype.kind == "f" and not np.isfinite(v).all()):
        raise ValueError(f"{what} is {v.dtype}, expected finite numbers")
    return v.astype(np.int64)


def scalar(v, what: str) -> int:
    v = integers(v, what)
    if v.size != 1 and np.unique(v).size != 1:
        raise ValueError(
            f"{what} differs between neurons ({v.size} values); Lava's LIF takes one per layer"
        )
    if v.size == 0:
        raise ValueError(f"{what} is empty")
    return int(v.reshape(-1)[0])


def pair(v, what: str) -> tuple:
    v = ints(v, what)
    if len(v) not in (1, 2):
        raise ValueError(f"{what} holds {len(v)} values, expected one or two (H, W)")
    return (v[0], v[0]) if len(v) == 1 else v


def bias(g, out_shape: tuple, read):
    """A layer's bias: per neuron (Lava's W, H, C order, turned to C, H, W) or per channel."""
    if "bias" not in g:
        return None
    b = integers(read(g, "bias"), "bias")
    whc = tuple(out_shape[::-1])
    if len(out_shape) > 1 and b.shape == whc:
        return b.transpose(*range(b.ndim)[::-1])
    return b


def write_type(g, name: str, kind: str) -> None:
    g.create_dataset(name, (1,), "S10", [kind.encode()])


def write_bias(g, b) -> None:
    if b is not None:
        g.create_dataset("bias", data=b.transpose(*range(b.ndim)[::-1]) if b.ndim == 3 else b)
