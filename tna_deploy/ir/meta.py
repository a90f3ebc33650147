"""tna-deploy's metadata of a deployed network (``NetxMeta``): one typed record, its field checks, and
its HDF5 encoding, used by the netx writer and every reader (the netx file's root attributes, the copy
an ONNX export keeps). Everything ``simulate`` needs besides the layers themselves: the run it came
from, T, the input encoding, the classes, and per compute layer its name, role and weight mode.

Leaf-level: the dataset is checked as a name here and against the dataset registry where data is
loaded (``simulate``); the weight mode against ``ir/modes.py``."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from .. import __version__
from ..checks import Field, check_fields, is_bool, is_int, is_num, is_str
from ..errors import version_problem
from .modes import WEIGHT_MODES, is_compressed

FORMAT = "tna-deploy-netx"
FORMAT_VERSION = 1
WHERE = "tna-deploy metadata"
JSON_ATTRS = ("layers", "in_shape")  # stored as JSON strings in HDF5 attributes
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LAYER_KEYS = ("name", "kind", "role", "mode", "weight_bits")


def _layer_entry(e) -> bool:
    return (
        isinstance(e, dict)
        and all(isinstance(e.get(k), str) for k in ("name", "kind", "role"))
        and e.get("mode") in WEIGHT_MODES
        and is_int(e.get("weight_bits"))
        and 1 <= e["weight_bits"] <= 8
    )


FIELDS = {  # every field a tna-deploy export writes, and what a reader accepts
    "source_run": Field(is_str, "a string"),
    "timesteps": Field(lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "n_classes": Field(lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "in_shape": Field(
        lambda v: isinstance(v, list) and len(v) == 3 and all(is_int(n) and n >= 1 for n in v),
        "three positive integers (C, H, W)",
    ),
    "input_bits": Field(lambda v: is_int(v) and 1 <= v <= 16, "an integer in 1..16"),
    "input_scale": Field(lambda v: is_num(v) and v > 0, "a positive number"),
    "event_data": Field(is_bool, "true or false"),
    "dataset": Field(
        lambda v: is_str(v) and _NAME.fullmatch(v) is not None,
        "a dataset name (letters, digits, '.', '_', '-')",
    ),
    "arch": Field(is_str, "a string"),
    "width": Field(lambda v: is_num(v) and v > 0, "a positive number"),
    "layers": Field(
        lambda v: isinstance(v, list) and all(_layer_entry(e) for e in v),
        "a list of {name, kind, role, mode, weight_bits} per compute layer",
    ),
    "tna_deploy_version": Field(is_str, "a string", optional=True),
    "lava_dl_version": Field(is_str, "a string", optional=True),
    "input_encoding": Field(is_str, "a string", optional=True),
}


def check_meta(meta: dict) -> None:
    """tna-deploy metadata (a netx file's root attributes, or an ONNX export's copy of them): every field
    present with its type, the format version this tna-deploy reads; ValueError naming the field otherwise."""
    problem = version_problem(
        meta.get("format_version"),
        FORMAT_VERSION,
        "netx format",
        "re-export it with this tna-deploy",
    )
    if problem:
        raise ValueError(f"{WHERE}: {problem}")
    check_fields(meta, FIELDS, WHERE, ValueError, noun="attribute")


def check_info(info: dict) -> None:
    """A layer's tna-deploy entry (name, kind, role, mode, weight_bits), or {}."""
    if info and not _layer_entry(info):
        raise ValueError(
            f"layer info {info!r}"[:120] + " is not {name, kind, role, mode, weight_bits} per "
            "compute layer"
        )


def check_meta_fits(meta: dict, layers: list, in_shape: tuple) -> None:
    """Checked tna-deploy metadata describes these layers: one entry per compute layer, the input shape, the
    read-out's width; ValueError naming the attribute otherwise."""
    compute = [layer for layer in layers if layer.neuron is not None and layer.kind != "input"]
    if len(meta["layers"]) != len(compute):
        raise ValueError(
            f"{WHERE}: attribute layers describes {len(meta['layers'])} compute layers, the "
            f"file holds {len(compute)}"
        )
    if list(in_shape) != list(meta["in_shape"]):
        raise ValueError(
            f"{WHERE}: attribute in_shape is {meta['in_shape']}, the layers take {list(in_shape)}"
        )
    if compute and compute[-1].neurons != meta["n_classes"]:
        raise ValueError(
            f"{WHERE}: attribute n_classes is {meta['n_classes']}, the read-out layer has "
            f"{compute[-1].neurons} neurons"
        )


def _attr(v):
    """An HDF5 attribute as a plain Python value (numpy scalars and bytes unwrapped)."""
    import numpy as np

    if isinstance(v, np.ndarray):
        v = v.tolist() if v.size != 1 else v.reshape(-1)[0]
    v = v.item() if isinstance(v, np.generic) else v
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def is_tna(attrs) -> bool:
    """True when a netx file's root attributes say tna-deploy wrote it."""
    return _attr(attrs.get("format")) == FORMAT


def decode_attrs(attrs) -> dict:
    """The tna-deploy metadata of a netx file's root attributes ({} for other netx files), checked;
    every attribute kept (a newer field a reader does not know travels on unchanged)."""
    if not is_tna(attrs):
        return {}
    meta = {}
    for k, v in attrs.items():
        v = _attr(v)
        if k in JSON_ATTRS:
            try:
                v = json.loads(v)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{WHERE}: attribute {k} is not JSON (expected a JSON list)"
                ) from None
        meta[k] = v
    check_meta(meta)
    return meta


def encode_attrs(meta: dict) -> dict:
    """``meta`` as HDF5 root attributes (lists and objects as JSON strings)."""
    return {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in meta.items()}


@dataclass
class NetxMeta:
    """Everything ``simulate`` needs besides the netx layers themselves; checked on creation."""

    source_run: str
    timesteps: int
    n_classes: int
    in_shape: list
    input_bits: int
    input_scale: float
    event_data: bool
    dataset: str
    arch: str
    width: float
    layers: list = field(default_factory=list)  # per compute layer: name, kind, role, mode, bits
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    tna_deploy_version: str = __version__
    lava_dl_version: str = ""
    input_encoding: str = ""

    def __post_init__(self):
        if self.format != FORMAT:
            raise ValueError(f"{WHERE}: format {self.format!r}, not {FORMAT}")
        check_meta(self.to_dict())

    @property
    def ternary_layers(self) -> list:
        """The compressed layers (ternary or binary), by name."""
        return [e["name"] for e in self.layers if is_compressed(e["mode"])]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, meta: dict) -> "NetxMeta":
        """The record of checked metadata (``decode_attrs``); fields it does not know are left out."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in meta.items() if k in known})


def _named(layers: list, meta: dict) -> list:
    """``layers`` with each compute layer's tna-deploy entry (``meta['layers']``) as its ``info``."""
    from .net import Layer

    out, it = [], iter(meta.get("layers", []))
    for layer in layers:
        if layer.neuron is not None and layer.kind != "input":
            info = next(it, None)
            if info:
                fields = {k: getattr(layer, k) for k in layer.__dataclass_fields__}
                layer = Layer(**{**fields, "info": dict(info)})
        out.append(layer)
    return out


def assemble(layers: list, meta: dict):
    """The ``DeployedNet`` of a file's layers and its checked metadata ({} for none): each compute
    layer named by its metadata entry, input bits, T and classes from the metadata."""
    from .net import DeployedNet

    layers = _named(layers, meta)
    first = layers[0]
    in_shape = first.out_shape if first.kind == "input" else first.in_shape
    if meta:
        check_meta_fits(meta, layers, in_shape)
    return DeployedNet(
        tuple(layers),
        in_shape,
        int(meta.get("input_bits", 0)),
        meta.get("timesteps"),
        meta.get("n_classes"),
        meta,
    )
