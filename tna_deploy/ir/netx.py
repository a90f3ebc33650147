"""Read a lava-dl netx HDF5 file into the IR, and write the IR back as one (h5py only, no Lava).

The reader interprets every field as ``lava.lib.dl.netx.hdf5.Network`` does (NX = lava/lib/dl/netx):
weights and biases through ``astype(int)`` (utils.py NetDict), shapes reversed to Lava's (W, H, C)
and back, conv stride / padding / dilation as (H, W) or one scalar, a dense layer without a neuron
gets netx's non-leaky integrator, dense delays are broadcast per output or per input and clipped to
62 (hdf5.py create_dense), a bias is per neuron (in Lava's W, H, C order) or per channel
(blocks/process.py ``_neuron``). Anything netx cannot run, or tna-deploy cannot emulate, is refused
with one line naming the layer.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..atomic import atomic_path
from ..errors import TnaError
from .net import MAX_DELAY, DeployedNet, Layer, Neuron

TNA_FORMAT = "tna-deploy-netx"
NETX_DEFAULT_NEURON = dict(type="CUBA", iDecay=0, vDecay=4096, vThMant=1 << 18 - 1, refDelay=1)  # netx's own value


class NetxFormatError(TnaError):
    """A netx file that cannot be read, or holds something tna-deploy cannot run."""


def _str(ds) -> str:
    v = ds[0] if ds.shape else ds[()]
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def _scalar(ds, what: str) -> int:
    v = np.asarray(ds[()])
    if v.size != 1 and np.unique(v).size != 1:
        raise ValueError(f"{what} differs between neurons ({v.size} values); Lava's LIF takes one per layer")
    return int(v.reshape(-1)[0])


def _pair(ds) -> tuple:
    v = np.asarray(ds[()]).reshape(-1)
    return (int(v[0]), int(v[0])) if v.size == 1 else (int(v[0]), int(v[1]))


def _neuron(g) -> Neuron:
    n = g["neuron"] if "neuron" in g else None
    if n is None:
        d = NETX_DEFAULT_NEURON
        return Neuron(d["vThMant"], d["iDecay"], d["vDecay"], d["type"], d["refDelay"])
    kind = _str(n["type"])
    if kind not in ("CUBA", "LOIHI"):
        raise ValueError(f"neuron type {kind!r}: only CUBA / LOIHI neurons run")
    ref = _scalar(n["refDelay"], "refDelay") if "refDelay" in n else 1
    return Neuron(_scalar(n["vThMant"], "vThMant"), _scalar(n["iDecay"], "iDecay"),
                  _scalar(n["vDecay"], "vDecay"), kind, ref)


def _bias(g, out_shape: tuple):
    if "bias" not in g:
        return None
    b = np.asarray(g["bias"][()]).astype(int)
    whc = tuple(out_shape[::-1])
    if len(out_shape) > 1 and b.shape == whc:
        return b.transpose(*range(b.ndim)[::-1])          # Lava's neuron-wise (W, H, C) -> (C, H, W)
    return b


def _delay(g, weight: np.ndarray):
    if "delay" not in g:
        return None
    d = np.asarray(g["delay"][()])
    if d.max() > MAX_DELAY:
        d = np.clip(d, 0, MAX_DELAY)                     # netx clips (with a warning)
    d = d.astype(int)
    if d.ndim == 0:
        return np.full(weight.shape, int(d))
    if d.ndim == 1:
        if d.size == weight.shape[0]:
            return np.repeat(d.reshape(-1, 1), weight.shape[1], axis=1)
        if d.size == weight.shape[1]:
            return np.repeat(d.reshape(1, -1), weight.shape[0], axis=0)
        raise ValueError(f"delays of shape {d.shape} fit neither the outputs nor the inputs of weights {weight.shape}")
    return d


def _layer(kind: str, i: int, g, shape, flat_next: bool) -> Layer:
    """One layer group; ``shape`` is the previous layer's output shape (None before the first)."""
    if kind == "input":
        out = tuple(int(v) for v in np.atleast_1d(g["shape"][()]))
        return Layer("input", i, out, out, neuron=_neuron(g) if "neuron" in g else None)
    if kind == "flatten":
        if shape is None:
            raise ValueError("flatten before any layer with a shape")
        return Layer("flatten", i, shape, (int(np.prod(shape)),))
    if kind == "conv":
        if "neuron" not in g:
            raise ValueError("conv layer without a neuron (netx requires one)")
        if shape is None:
            raise ValueError("the first layer is a conv and the file has no input shape")
        out = tuple(int(v) for v in np.atleast_1d(g["shape"][()]))
        w = np.asarray(g["weight"][()]).astype(int)
        w = w.reshape(w.shape[:4])
        return Layer("conv", i, shape, out, _neuron(g), w, _bias(g, out), _pair(g["stride"]), _pair(g["padding"]),
                     _pair(g["dilation"]), _scalar(g["groups"], "groups"))
    if kind == "dense":
        n_out = int(np.prod(np.asarray(g["shape"][()])))
        w = np.asarray(g["weight"][()]).astype(int)
        if w.ndim == 1:
            w = w.reshape(n_out, -1)
        if shape is not None and len(shape) > 1 and not flat_next:
            raise ValueError(f"dense layer after a {len(shape)}-D layer needs a flatten layer between them")
        in_shape = shape if shape is not None else (w.shape[1],)
        return Layer("dense", i, in_shape, (n_out,), _neuron(g), w, _bias(g, (n_out,)), delay=_delay(g, w))
    raise ValueError(f"type {kind!r}: tna-deploy runs input, conv, dense and flatten layers")


def _meta(attrs) -> dict:
    if attrs.get("format") != TNA_FORMAT:
        return {}
    meta = {}
    for k, v in attrs.items():
        v = v.item() if hasattr(v, "item") else v
        if isinstance(v, bytes):
            v = v.decode()
        if k in ("layers", "in_shape"):
            v = json.loads(v)
        meta[k] = v
    return meta


def read_netx(path: str) -> DeployedNet:
    """The IR of a netx file; ``NetxFormatError`` (one line, naming the layer) for anything else."""
    if not os.path.isfile(path):
        raise NetxFormatError(f"{path}: no such file")
    import h5py
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise NetxFormatError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0][:80]})") from None
    where = "the file"
    try:
        with f:
            if "layer" not in f or not len(f["layer"]):
                raise NetxFormatError(f"{path}: not a netx network (no layer/ group); export one with lava-dl "
                                      f"or tna-deploy export")
            groups = f["layer"]
            if sorted(groups.keys(), key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(groups))]:
                raise NetxFormatError(f"{path}: layer/ holds {sorted(groups.keys())}, not 0..{len(groups) - 1}")
            meta = _meta(dict(f.attrs))
            layers, shape, flat = [], None, False
            for i in range(len(groups)):
                g = groups[str(i)]
                kind = _str(g["type"]) if "type" in g else "<missing>"
                where = f"layer {i} ({kind})"
                layer = _layer(kind, i, g, shape, flat)
                flat = kind == "flatten"
                layers.append(layer)
                shape = layer.out_shape
            where = "the file"
            return _net(layers, meta)
    except NetxFormatError:
        raise
    except (ValueError, KeyError, OSError, TypeError, IndexError) as e:
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise NetxFormatError(f"{path}: {where}: {msg}") from None


def _net(layers: list, meta: dict) -> DeployedNet:
    infos = iter(meta.get("layers", []))
    named = []
    for layer in layers:
        if layer.neuron is not None and layer.kind != "input":
            info = next(infos, None)
            if info:
                layer = Layer(**{**{k: getattr(layer, k) for k in layer.__dataclass_fields__}, "info": dict(info)})
        named.append(layer)
    first = named[0]
    in_shape = first.out_shape if first.kind == "input" else first.in_shape
    return DeployedNet(tuple(named), in_shape, int(meta.get("input_bits", 0)), meta.get("timesteps"),
                       meta.get("n_classes"), meta)


def write_netx(net: DeployedNet, path: str) -> None:
    """Write ``net`` as a netx file (atomically) that ``read_netx`` and netx read back identically."""
    import h5py
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h:
            for k, v in net.meta.items():
                h.attrs[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
            root = h.create_group("layer")
            for i, layer in enumerate(net.layers):
                _write_layer(root.create_group(str(i)), layer)


def _write_layer(g, layer: Layer) -> None:
    g.create_dataset("type", (1,), "S10", [layer.kind.encode()])
    g.create_dataset("shape", data=np.array(layer.out_shape, dtype=np.int64))
    if layer.neuron is not None and not (layer.kind == "dense" and _is_default(layer.neuron)):
        n = layer.neuron
        g.create_dataset("neuron/type", (1,), "S10", [n.kind.encode()])
        for key, value in (("iDecay", n.current_decay), ("vDecay", n.voltage_decay), ("vThMant", n.threshold),
                           ("refDelay", n.ref_delay)):
            g.create_dataset(f"neuron/{key}", data=value)
    if layer.kind == "conv":
        g.create_dataset("weight", data=layer.weight)
        for key in ("stride", "padding", "dilation"):
            g.create_dataset(key, data=np.array(getattr(layer, key), dtype=np.int64))
        g.create_dataset("groups", data=layer.groups)
        g.create_dataset("inChannels", data=layer.in_shape[0])
        g.create_dataset("outChannels", data=layer.out_shape[0])
        g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
    if layer.kind == "dense":
        g.create_dataset("weight", data=layer.weight)
        g.create_dataset("inFeatures", data=layer.weight.shape[1])
        g.create_dataset("outFeatures", data=layer.weight.shape[0])
        if layer.delay is not None:
            g.create_dataset("delay", data=layer.delay)
    if layer.bias is not None:
        b = layer.bias
        g.create_dataset("bias", data=b.transpose(*range(b.ndim)[::-1]) if b.ndim == 3 else b)


def _is_default(n: Neuron) -> bool:
    d = NETX_DEFAULT_NEURON
    return (n.threshold, n.current_decay, n.voltage_decay, n.kind, n.ref_delay) == \
        (d["vThMant"], d["iDecay"], d["vDecay"], d["type"], d["refDelay"])
