"""The IR as a JSON description plus named integer arrays, for formats that keep their own tensors (ONNX).

``describe(net)`` gives the JSON-able structure and the arrays it names (``<layer index>/weight``,
``/bias``, ``/delay``); ``rebuild(doc, arrays)`` makes the same ``DeployedNet`` again, so a file that
stores both can be read back into exactly the network it was written from. ``rebuild`` checks types
itself and lets the IR's own validation judge the values: anything malformed raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .meta import FORMAT as TNA_FORMAT
from .meta import check_info, check_meta, check_meta_fits
from .net import DeployedNet, Layer, Neuron

SCHEMA = 1
_ARRAYS = ("weight", "bias", "delay", "weight_rec", "weight_imag")
_TUPLES = ("in_shape", "out_shape", "stride", "padding", "dilation")


def describe(net: DeployedNet) -> tuple[dict, dict]:
    layers, arrays = [], {}
    for layer in net.layers:
        if layer.neuron is not None and not isinstance(layer.neuron, Neuron):
            raise ValueError(
                f"layer {layer.name}: {layer.neuron.kind} neurons have no ONNX description"
            )
        entry = dict(
            kind=layer.kind,
            index=layer.index,
            groups=layer.groups,
            info=dict(layer.info),
            neuron=dataclasses.asdict(layer.neuron) if layer.neuron is not None else None,
            **{k: list(getattr(layer, k)) for k in _TUPLES},
        )
        for k in _ARRAYS:
            value = getattr(layer, k)
            entry[k] = None
            if value is not None:
                entry[k] = f"{layer.index}/{k}"
                arrays[entry[k]] = np.asarray(value, dtype=np.int64)
        layers.append(entry)
    doc = dict(
        schema=SCHEMA,
        input_shape=list(net.input_shape),
        input_bits=net.input_bits,
        timesteps=net.timesteps,
        n_classes=net.n_classes,
        meta=net.meta,
        layers=layers,
    )
    return doc, arrays


def _int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{what} is {v!r}, not an integer")
    return v


def _ints(v, what: str) -> tuple:
    if not isinstance(v, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in v
    ):
        raise ValueError(f"{what} is {v!r}, not a list of integers")
    return tuple(v)


def rebuild(doc, arrays: dict) -> DeployedNet:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(
            f"IR description schema {doc.get('schema') if isinstance(doc, dict) else doc!r} "
            f"is not {SCHEMA}"
        )
    if not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise ValueError("the IR description has no layers")
    layers = []
    for i, e in enumerate(doc["layers"]):
        if not isinstance(e, dict):
            raise ValueError(f"layer {i} is {type(e).__name__}, not an object")
        where = f"layer {i}"
        n = e.get("neuron")
        if n is not None:
            if not isinstance(n, dict) or set(n) != {f.name for f in dataclasses.fields(Neuron)}:
                raise ValueError(f"{where}: neuron {n!r} is not a CUBA neuron description")
            n = Neuron(
                **{k: (v if k == "kind" else _int(v, f"{where} neuron {k}")) for k, v in n.items()}
            )
        fields = {k: _ints(e.get(k), f"{where} {k}") for k in _TUPLES}
        for k in _ARRAYS:
            name = e.get(k)
            if name is None:
                fields[k] = None
            elif name not in arrays:
                raise ValueError(f"{where}: its {k} tensor {name!r} is missing")
            else:
                fields[k] = np.asarray(arrays[name], dtype=np.int64)
        info = e.get("info", {})
        if not isinstance(info, dict):
            raise ValueError(f"{where}: info is not an object")
        check_info(info)
        layers.append(
            Layer(
                str(e.get("kind")),
                _int(e.get("index"), f"{where} index"),
                neuron=n,
                groups=_int(e.get("groups"), f"{where} groups"),
                info=info,
                **fields,
            )
        )
    t, c = doc.get("timesteps"), doc.get("n_classes")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("meta is not an object")
    if meta:  # a copy of a netx file's tna-deploy metadata: checked as the netx reader does
        if meta.get("format") != TNA_FORMAT:
            raise ValueError(f"meta names format {meta.get('format')!r}, not {TNA_FORMAT}")
        check_meta(meta)
    net = DeployedNet(
        tuple(layers),
        _ints(doc.get("input_shape"), "input_shape"),
        _int(doc.get("input_bits"), "input_bits"),
        None if t is None else _int(t, "timesteps"),
        None if c is None else _int(c, "n_classes"),
        meta,
    )
    if meta:
        check_meta_fits(meta, net.layers, net.input_shape)
        if (net.timesteps, net.n_classes, net.input_bits) != (
            meta["timesteps"],
            meta["n_classes"],
            meta["input_bits"],
        ):
            raise ValueError(
                f"timesteps, n_classes, input_bits {net.timesteps}, {net.n_classes}, {net.input_bits} "
                f"differ from the metadata's {meta['timesteps']}, {meta['n_classes']}, "
                f"{meta['input_bits']}"
            )
    return net
