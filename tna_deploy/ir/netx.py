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
import math
import os

import numpy as np

from ..atomic import atomic_path
from ..errors import TnaError, version_problem
from ..quant.modes import MODES
from ..train.config import DATASETS
from .net import MAX_DELAY, DeployedNet, Layer, Neuron

TNA_FORMAT = "tna-deploy-netx"
TNA_FORMAT_VERSION = 1
NETX_DEFAULT_NEURON = dict(
    type="CUBA", iDecay=0, vDecay=4096, vThMant=1 << 18 - 1, refDelay=1
)  # netx's own value
MIN_READ_LIMIT = 16 << 20  # bytes any one dataset may hold, or 64x the file's size if that is more


class NetxFormatError(TnaError):
    """A netx file that cannot be read, or holds something tna-deploy cannot run."""


class _Reader:
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


def _str(v) -> str:
    v = np.asarray(v)
    v = v.reshape(-1)[0] if v.size else ""
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def _int(v, what: str) -> int:
    v = np.asarray(v)
    if v.size != 1 or v.dtype.kind not in "uifb":
        raise ValueError(f"{what} is {v.dtype} of shape {v.shape}, expected one integer")
    x = v.reshape(-1)[0]
    if not np.isfinite(x) or x != np.round(x):
        raise ValueError(f"{what} is {x}, expected an integer")
    return int(x)


def _ints(v, what: str) -> tuple:
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


def _integers(v, what: str) -> np.ndarray:
    v = np.asarray(v)
    if v.dtype.kind not in "uifb" or (v.dtype.kind == "f" and not np.isfinite(v).all()):
        raise ValueError(f"{what} is {v.dtype}, expected finite numbers")
    return v.astype(np.int64)


def _scalar(v, what: str) -> int:
    v = _integers(v, what)
    if v.size != 1 and np.unique(v).size != 1:
        raise ValueError(
            f"{what} differs between neurons ({v.size} values); Lava's LIF takes one per layer"
        )
    if v.size == 0:
        raise ValueError(f"{what} is empty")
    return int(v.reshape(-1)[0])


def _pair(v, what: str) -> tuple:
    v = _ints(v, what)
    if len(v) not in (1, 2):
        raise ValueError(f"{what} holds {len(v)} values, expected one or two (H, W)")
    return (v[0], v[0]) if len(v) == 1 else v


def _neuron(g, read) -> Neuron:
    if "neuron" not in g:
        d = NETX_DEFAULT_NEURON
        return Neuron(d["vThMant"], d["iDecay"], d["vDecay"], d["type"], d["refDelay"])
    n = g["neuron"]
    needs = "a neuron needs type, vThMant, iDecay and vDecay"
    kind = _str(read(n, "type", needs))
    if kind not in ("CUBA", "LOIHI"):
        raise ValueError(f"neuron type {kind!r}: only CUBA / LOIHI neurons run")
    ref = _scalar(read(n, "refDelay"), "refDelay") if "refDelay" in n else 1
    return Neuron(
        _scalar(read(n, "vThMant", needs), "vThMant"),
        _scalar(read(n, "iDecay", needs), "iDecay"),
        _scalar(read(n, "vDecay", needs), "vDecay"),
        kind,
        ref,
    )


def _bias(g, out_shape: tuple, read):
    if "bias" not in g:
        return None
    b = _integers(read(g, "bias"), "bias")
    whc = tuple(out_shape[::-1])
    if len(out_shape) > 1 and b.shape == whc:
        return b.transpose(*range(b.ndim)[::-1])  # Lava's neuron-wise (W, H, C) -> (C, H, W)
    return b


def _delay(g, weight: np.ndarray, read):
    if "delay" not in g:
        return None
    d = np.asarray(read(g, "delay"))
    d = _integers(
        np.clip(d, 0, MAX_DELAY)
        if d.size and d.dtype.kind in "uif" and np.nanmax(d) > MAX_DELAY
        else d,
        "delay",
    )  # netx clips (with a warning)
    if d.ndim == 0:
        return np.full(weight.shape, int(d))
    if d.ndim == 1:
        if d.size == weight.shape[0]:
            return np.repeat(d.reshape(-1, 1), weight.shape[1], axis=1)
        if d.size == weight.shape[1]:
            return np.repeat(d.reshape(1, -1), weight.shape[0], axis=0)
        raise ValueError(
            f"delays of shape {d.shape} fit neither the outputs nor the inputs of weights {weight.shape}"
        )
    return d


CONV_NEEDS = "a conv layer needs shape, weight, stride, padding, dilation, groups and a neuron"
DENSE_NEEDS = "a dense layer needs shape and weight"


def _layer(kind: str, i: int, g, shape, flat_next: bool, read, tna: bool) -> Layer:
    """One layer group; ``shape`` is the previous layer's output shape (None before the first). In a
    tna-deploy file (``tna``) every conv and dense layer has its neuron: none is never netx's default."""
    if kind in ("conv", "dense") and tna and "neuron" not in g:
        raise ValueError(
            f"its 'neuron' group is missing; the file's tna-deploy metadata gives every {kind} layer "
            f"its own neuron (netx would silently use its default one): re-export the file"
        )
    if kind == "input":
        out = _ints(read(g, "shape", "an input layer needs its shape"), "shape")
        return Layer("input", i, out, out, neuron=_neuron(g, read) if "neuron" in g else None)
    if kind == "flatten":
        if shape is None:
            raise ValueError("flatten before any layer with a shape")
        return Layer("flatten", i, shape, (int(np.prod(shape)),))
    if kind == "conv":
        if "neuron" not in g:
            raise ValueError("conv layer without a neuron (netx requires one)")
        if shape is None:
            raise ValueError("the first layer is a conv and the file has no input shape")
        out = _ints(read(g, "shape", CONV_NEEDS), "shape")
        w = _integers(read(g, "weight", CONV_NEEDS), "weight")
        if w.ndim < 4:
            raise ValueError(f"weight of shape {w.shape}, expected (out, in / groups, kH, kW)")
        w = w.reshape(w.shape[:4])
        return Layer(
            "conv",
            i,
            shape,
            out,
            _neuron(g, read),
            w,
            _bias(g, out, read),
            _pair(read(g, "stride", CONV_NEEDS), "stride"),
            _pair(read(g, "padding", CONV_NEEDS), "padding"),
            _pair(read(g, "dilation", CONV_NEEDS), "dilation"),
            _scalar(read(g, "groups", CONV_NEEDS), "groups"),
        )
    if kind == "dense":
        n_out = int(np.prod(_ints(read(g, "shape", DENSE_NEEDS), "shape")))
        w = _integers(read(g, "weight", DENSE_NEEDS), "weight")
        if w.ndim == 1 and n_out and w.size % n_out == 0:
            w = w.reshape(n_out, -1)
        if shape is not None and len(shape) > 1 and not flat_next:
            raise ValueError(
                f"dense layer after a {len(shape)}-D layer needs a flatten layer between them"
            )
        if w.ndim != 2:
            raise ValueError(f"weight of shape {w.shape}, expected (outputs {n_out}, inputs)")
        in_shape = shape if shape is not None else (w.shape[1],)
        return Layer(
            "dense",
            i,
            in_shape,
            (n_out,),
            _neuron(g, read),
            w,
            _bias(g, (n_out,), read),
            delay=_delay(g, w, read),
        )
    raise ValueError(f"type {kind!r}: tna-deploy runs input, conv, dense and flatten layers")


def _attr(v):
    if isinstance(v, np.ndarray):
        v = v.tolist() if v.size != 1 else v.reshape(-1)[0]
    v = v.item() if isinstance(v, np.generic) else v
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def _meta(attrs) -> dict:
    """The tna-deploy metadata of a file's root attributes ({} for other netx files), checked."""
    if _attr(attrs.get("format")) != TNA_FORMAT:
        return {}
    meta = {}
    for k, v in attrs.items():
        v = _attr(v)
        if k in ("layers", "in_shape"):
            try:
                v = json.loads(v)
            except (TypeError, ValueError):
                raise ValueError(
                    f"tna-deploy metadata: attribute {k} is not JSON (expected a JSON list)"
                ) from None
        meta[k] = v
    check_meta(meta)
    return meta


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_META = {  # field: (check, what is expected); every field a tna-deploy export writes
    "source_run": (lambda v: isinstance(v, str), "a string"),
    "timesteps": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "n_classes": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "in_shape": (
        lambda v: isinstance(v, list) and len(v) == 3 and all(_is_int(n) and n >= 1 for n in v),
        "three positive integers (C, H, W)",
    ),
    "input_bits": (lambda v: _is_int(v) and 1 <= v <= 16, "an integer in 1..16"),
    "input_scale": (lambda v: _is_num(v) and v > 0, "a positive number"),
    "event_data": (lambda v: isinstance(v, bool), "true or false"),
    "dataset": (lambda v: v in DATASETS, f"one of {', '.join(DATASETS)}"),
    "arch": (lambda v: isinstance(v, str), "a string"),
    "width": (lambda v: _is_num(v) and v > 0, "a positive number"),
    "layers": (
        lambda v: (
            isinstance(v, list)
            and all(
                isinstance(e, dict)
                and all(isinstance(e.get(k), str) for k in ("name", "kind", "role"))
                and e.get("mode") in MODES
                and _is_int(e.get("weight_bits"))
                and 1 <= e["weight_bits"] <= 8
                for e in v
            )
        ),
        "a list of {name, kind, role, mode, weight_bits} per compute layer",
    ),
}


def check_meta(meta: dict) -> None:
    """tna-deploy metadata (a netx file's root attributes, or an ONNX export's copy of them): every field
    present with its type, the format version this tna-deploy reads; ValueError naming the field otherwise."""
    problem = version_problem(
        meta.get("format_version"),
        TNA_FORMAT_VERSION,
        "netx format",
        "re-export it with this tna-deploy",
    )
    if problem:
        raise ValueError(f"tna-deploy metadata: {problem}")
    for key, (ok, what) in _META.items():
        if key not in meta:
            raise ValueError(f"tna-deploy metadata: attribute {key} is missing (expected {what})")
        if not ok(meta[key]):
            shown = (
                repr(meta[key]) if len(repr(meta[key])) <= 40 else f"a {type(meta[key]).__name__}"
            )
            raise ValueError(f"tna-deploy metadata: attribute {key} is {shown}, expected {what}")


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
    read = _Reader(max(MIN_READ_LIMIT, 64 * os.path.getsize(path)))
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
            meta = _meta(dict(f.attrs))
            layers, shape, flat = [], None, False
            for i in range(len(groups)):
                g = groups[str(i)]
                if not isinstance(g, h5py.Group):
                    raise NetxFormatError(f"{path}: layer/{i} is a dataset, expected a layer group")
                kind = _str(read(g, "type")) if "type" in g else "<missing>"
                where = f"layer {i} ({kind})"
                layer = _layer(kind, i, g, shape, flat, read, bool(meta))
                flat = kind == "flatten"
                layers.append(layer)
                shape = layer.out_shape
            where = ""
            return _net(layers, meta)
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


def check_meta_fits(meta: dict, layers: list, in_shape: tuple) -> None:
    """Checked tna-deploy metadata describes these layers: one entry per compute layer, the input shape, the
    read-out's width; ValueError naming the attribute otherwise."""
    compute = [layer for layer in layers if layer.neuron is not None and layer.kind != "input"]
    if len(meta["layers"]) != len(compute):
        raise ValueError(
            f"tna-deploy metadata: attribute layers describes {len(meta['layers'])} compute layers, the "
            f"file holds {len(compute)}"
        )
    if list(in_shape) != list(meta["in_shape"]):
        raise ValueError(
            f"tna-deploy metadata: attribute in_shape is {meta['in_shape']}, the layers take "
            f"{list(in_shape)}"
        )
    if compute and compute[-1].neurons != meta["n_classes"]:
        raise ValueError(
            f"tna-deploy metadata: attribute n_classes is {meta['n_classes']}, the read-out layer has "
            f"{compute[-1].neurons} neurons"
        )


def check_info(info: dict) -> None:
    """A layer's tna-deploy entry (name, kind, role, mode, weight_bits), or {}."""
    ok, what = _META["layers"]
    if info and not ok([info]):
        raise ValueError(f"layer info {info!r}"[:120] + f" is not {what[9:]}")


def _net(layers: list, meta: dict) -> DeployedNet:
    infos = meta.get("layers", [])
    named, it = [], iter(infos)
    for layer in layers:
        if layer.neuron is not None and layer.kind != "input":
            info = next(it, None)
            if info:
                layer = Layer(
                    **{
                        **{k: getattr(layer, k) for k in layer.__dataclass_fields__},
                        "info": dict(info),
                    }
                )
        named.append(layer)
    first = named[0]
    in_shape = first.out_shape if first.kind == "input" else first.in_shape
    if meta:
        check_meta_fits(meta, named, in_shape)
    return DeployedNet(
        tuple(named),
        in_shape,
        int(meta.get("input_bits", 0)),
        meta.get("timesteps"),
        meta.get("n_classes"),
        meta,
    )


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
        for key, value in (
            ("iDecay", n.current_decay),
            ("vDecay", n.voltage_decay),
            ("vThMant", n.threshold),
            ("refDelay", n.ref_delay),
        ):
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
    return (n.threshold, n.current_decay, n.voltage_decay, n.kind, n.ref_delay) == (
        d["vThMant"],
        d["iDecay"],
        d["vDecay"],
        d["type"],
        d["refDelay"],
    )
