"""Layer geometry and integer weights as written in a tna-deploy netx file (no torch model needed)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..export.netx import NetxMeta, read_meta


@dataclass
class Layer:
    name: str
    kind: str             # conv | pool | dense | output
    role: str
    mode: str             # int8 | ternary | binary | fp (pool: a fixed integer weight)
    weight_bits: int
    in_shape: tuple       # (C, H, W) or (F,)
    out_shape: tuple
    weight: np.ndarray    # conv: (Cout, Cin/g, kH, kW); dense: (out, in); integers
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    groups: int = 1

    @property
    def neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def inputs(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def is_conv(self) -> bool:
        return self.weight.ndim == 4


def read_layers(path: str) -> tuple[NetxMeta, list[Layer]]:
    """The weighted layers of ``path`` in order, with their input and output shapes."""
    import h5py
    meta = read_meta(path)
    layers = []
    with h5py.File(path, "r") as h:
        groups = h["layer"]
        shape = tuple(int(v) for v in groups["0"]["shape"][()])
        flat = False
        entries = iter(meta.layers)
        for i in range(1, len(groups)):
            g = groups[str(i)]
            kind = g["type"][0].decode() if g["type"].shape else g["type"][()].decode()
            if kind == "flatten":
                flat = True
                continue
            entry = next(entries)
            w = np.asarray(g["weight"][()]).astype(np.int64)
            out = tuple(int(v) for v in np.atleast_1d(g["shape"][()]))
            in_shape = (int(np.prod(shape)),) if (flat and kind == "dense") else shape
            layer = Layer(entry["name"], entry["kind"], entry["role"], entry["mode"], int(entry["weight_bits"]),
                          in_shape, out, w)
            if kind == "conv":
                layer.stride = tuple(int(v) for v in g["stride"][()])
                layer.padding = tuple(int(v) for v in g["padding"][()])
                layer.groups = int(g["groups"][()])
            layers.append(layer)
            shape, flat = out, False
    return meta, layers
