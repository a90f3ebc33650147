"""Read a lava-dl netx HDF5 file into the IR, and write the IR back as one (h5py only, no Lava).

The reader interprets every field as ``lava.lib.dl.netx.hdf5.Network`` does (NX = lava/lib/dl/netx):
weights and biases through ``astype(int)`` (utils.py NetDict), shapes reversed to Lava's (W, H, C)
and back, conv stride / padding / dilation as (H, W) or one scalar, a dense layer without a neuron
gets netx's non-leaky integrator, dense delays are broadcast per output or per input and clipped to
62 (hdf5.py create_dense), a bias is per neuron (in Lava's W, H, C order) or per channel
(blocks/process.py ``_neuron``). Anything netx cannot run, or tna-deploy cannot emulate, is refused
with one line naming the layer. This module walks the file; each layer kind (``layers/``) and neuron
kind (``neurons/``) reads and writes its own fields; the metadata is ``meta.NetxMeta``'s.
"""

from __future__ import annotations

import os

import numpy as np

from ..atomic import atomic_write
from ..errors import FormatError
from .h5 import Reader, text, write_bias, write_type
from .layers import LAYER_KINDS, NOT_LAST, REFUSED_KINDS, NetxContext
from .meta import FORMAT as TNA_FORMAT
from .meta import FORMAT_VERSION as TNA_FORMAT_VERSION
from .meta import assemble, decode_attrs, encode_attrs
from .net import DeployedNet, Layer
from .neurons import NETX_DEFAULT, read_neuron

__all__ = ["TNA_FORMAT", "TNA_FORMAT_VERSION", "NetxFormatError", "read_netx", "write_netx"]
MIN_READ_LIMIT = 16 << 20  # bytes any one dataset may hold, or 64x the file's size if that is more


class NetxFormatError(FormatError):
    """A netx file that cannot be read, or holds something tna-deploy cannot run."""


def _layer(kind: str, ctx: NetxContext, tna: bool) -> Layer:
    """One layer group. In a tna-deploy file (``tna``) every compute layer has its own neuron: none is
    never netx's default."""
    if kind in REFUSED_KINDS:
        raise ValueError(REFUSED_KINDS[kind])
    if kind not in LAYER_KINDS:
        raise ValueError(
            f"type {kind!r}: tna-deploy runs {', '.join(list(LAYER_KINDS)[:-1])} and "
            f"{list(LAYER_KINDS)[-1]} layers"
        )
    kind = LAYER_KINDS[kind].read_as(ctx.group)
    k = LAYER_KINDS[kind]
    if k.compute and tna and "neuron" not in ctx.group:
        raise ValueError(
            f"its 'neuron' group is missing; the file's tna-deploy metadata gives every {kind} layer "
            f"its own neuron (netx would silently use its default one): re-export the file"
        )
    takes = k.compute or (k.optional_neuron and "neuron" in ctx.group)
    neuron = read_neuron(ctx.group, ctx.read, is_input=kind == "input") if takes else None
    return k.read_netx(ctx, neuron)


def read_netx(path: str) -> DeployedNet:
    """The IR of a netx file; ``NetxFormatError`` (one line, naming the layer) for anything else."""
    if not os.path.isfile(path):
        raise NetxFormatError(f"{path}: no such file")
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception as e:  # noqa: BLE001 -- h5py raises OSError, and others on a damaged superblock
        reason = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
        raise NetxFormatError(f"{path}: not a readable HDF5 file ({reason})") from None
    read = Reader(max(MIN_READ_LIMIT, 64 * os.path.getsize(path)))
    where = ""
    try:
        with f:
            if "layer" not in f or not isinstance(f["layer"], h5py.Group) or not len(f["layer"]):
                raise NetxFormatError(
                    f"{path}: not a netx network (no layer/ group); export one with lava-dl "
                    f"or tna-deploy export"
                )
            groups = f["layer"]
            if sorted(groups.keys(), key=lambda k: int(k) if k.isdigit() else -1) != [
                str(i) for i in range(len(groups))
            ]:
                raise NetxFormatError(
                    f"{path}: layer/ holds {sorted(groups.keys())[:8]}, not 0..{len(groups) - 1}"
                )
            meta = decode_attrs(dict(f.attrs))
            layers, shape, flat = [], None, False
            for i in range(len(groups)):
                g = groups[str(i)]
                if not isinstance(g, h5py.Group):
                    raise NetxFormatError(f"{path}: layer/{i} is a dataset, expected a layer group")
                kind = text(read(g, "type")) if "type" in g else "<missing>"
                where = f"layer {i} ({kind})"
                layer = _layer(kind, NetxContext(g, i, shape, flat, read, Layer), bool(meta))
                if LAYER_KINDS[kind].readout and i + 1 < len(groups):
                    raise ValueError(f"it is {NOT_LAST}")
                flat = kind == "flatten"
                layers.append(layer)
                shape = layer.out_shape
            where = ""
            return assemble(layers, meta)
    except NetxFormatError:
        raise
    except (
        ValueError,
        KeyError,
        OSError,
        TypeError,
        IndexError,
        OverflowError,
        RuntimeError,
        MemoryError,
    ) as e:
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise NetxFormatError(f"{path}: {where + ': ' if where else ''}{msg}") from None


def netx_bytes(net: DeployedNet) -> bytes:
    """``net`` as the bytes of a netx file, built in memory (HDF5 writing into a file on a disk that
    fills up can crash the process; bytes in memory are written like any other file)."""
    import io

    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as h:
        for k, v in encode_attrs(net.meta).items():
            h.attrs[k] = v
        root = h.create_group("layer")
        for i, layer in enumerate(net.layers):
            _write_layer(root.create_group(str(i)), layer)
    return buf.getvalue()


def write_netx(net: DeployedNet, path: str) -> None:
    """Write ``net`` as a netx file (atomically) that ``read_netx`` and netx read back identically."""
    data = netx_bytes(net)
    atomic_write(path, lambda f: f.write(data))


def _write_layer(g, layer: Layer) -> None:
    write_type(g, "type", LAYER_KINDS[layer.kind].netx_type or layer.kind)
    g.create_dataset("shape", data=np.array(layer.out_shape, dtype=np.int64))
    if layer.neuron is not None and not (layer.kind == "dense" and layer.neuron == NETX_DEFAULT):
        layer.neuron.write_netx(g)
    LAYER_KINDS[layer.kind].write_netx(g, layer)
    write_bias(g, layer.bias)
