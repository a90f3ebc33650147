"""The chip's view of a trained model: a copy computing with Loihi integers (``prepare_for_chip``), the
checks that Loihi 2 / netx can take it (``check_mappable``), and its deployment IR (``to_ir``), read
straight from the SLAYER blocks: each synapse's integer weights ``pre_hook_fx(w, descale=True)`` (the
values the forward pass used) and each neuron's ``device_params``. Every format is written from that
IR (``export/``); SLAYER's own ``export_hdf5`` is the oracle the tests compare it with."""

from __future__ import annotations

import copy
import math
import os

import numpy as np

from ..errors import ExportError
from ..ir import DeployedNet, Layer, NetxMeta, Neuron
from ..ir.layers import conv_out_hw
from ..ir.meta import assemble
from ..ir.modes import weight_bits

U_LIMIT = (1 << 23) - 1  # Loihi's 24-bit signed current/voltage
READOUT_THRESHOLD = (1 << 18) - 1  # SLAYER's Affine exports this vThMant: the read-out never spikes
COMPUTE_KINDS = ("conv", "pool", "dense", "output")


def prepare_for_chip(run) -> tuple[object, list[str]]:
    """A copy of the base whose every weighted layer computes with Loihi integers.

    Middle layers still in full precision (``--weights fp``, or compression never reached) are
    quantized to Loihi's 8 bits, exactly as SLAYER's ``quantize_8bit``; returns the notes."""
    net = copy.deepcopy(run.base)
    notes = []
    for info, q in zip(net.info, net.quantizers):
        if info.role == "middle" and q.mode == "fp":
            q.mode = "int8"
            notes.append(f"{info.name}: full-precision weights quantized to 8 bits for the chip")
    net.eval()
    import torch

    with torch.no_grad():  # SLAYER learns each neuron's shape on its first forward pass
        net(torch.zeros((1, *run.meta.in_shape, 1)))
    return net, notes


def check_mappable(net, first_input_max: float, allow_overflow: bool = False) -> list[str]:
    """Refuse what Loihi 2 / netx cannot take; warn where the 24-bit current could overflow.

    The first layer's inputs are graded spikes up to ``first_input_max``; later layers get 0/1. Graded
    inputs wide enough to push the first layer's current past 24 bits are refused (the chip would not
    compute what PyTorch does), naming the largest safe input, unless ``allow_overflow``."""
    warnings = []
    input_max = first_input_max
    for i, (info, q) in enumerate(zip(net.info, net.quantizers)):
        if info.kind == "flatten":
            continue
        if info.kind not in COMPUTE_KINDS:
            raise ExportError(f"layer {info.name}: block kind {info.kind!r} has no netx equivalent")
        w = net.quantized_weight(i).numpy()
        if not np.array_equal(w, np.round(w)):
            raise ExportError(
                f"layer {info.name}: weights are not integers on Loihi's grid (mode {q.mode})"
            )
        if not w.any():
            raise ExportError(
                f"layer {info.name}: every weight is zero, so the layer can never fire; "
                f"train longer or lower --delta"
            )
        if w.min() < -256 or w.max() > 255:
            raise ExportError(
                f"layer {info.name}: weights span {int(w.min())}..{int(w.max())}, "
                f"outside Loihi's 8-bit range -256..255"
            )
        row_sum = float(np.abs(w.reshape(w.shape[0], -1)).sum(axis=1).max())
        bound = 64 * row_sum * input_max
        if bound > U_LIMIT and input_max > 1 and not allow_overflow:
            safe = int(U_LIMIT // (64 * row_sum))
            bits = max(0, (safe + 1).bit_length() - 1)
            raise ExportError(
                f"layer {info.name}: inputs up to {int(input_max)} can drive its current to {int(bound)}, "
                f"past Loihi's 24-bit range, so the chip would not compute what PyTorch does; the "
                f"largest safe input is {safe} (--input-bits {bits}): retrain with it, or export "
                f"anyway with --allow-overflow"
            )
        if bound > U_LIMIT:
            warnings.append(
                f"{info.name}: worst-case input current {int(bound)} (every input at {int(input_max)}) "
                f"exceeds the 24-bit range; parity holds only while real activity stays below it"
            )
        input_max = 1
    return warnings


def lava_dl_version() -> str:
    try:
        from importlib.metadata import version

        return version("lava-dl")
    except Exception:  # metadata missing in odd installs: the field is informative only
        return "unknown"


def netx_meta(run, net) -> NetxMeta:
    """tna-deploy's metadata of the chip copy ``net`` of ``run``: source, T, encoding, classes, and
    per compute layer its name, kind, role, weight mode and the bits that mode takes."""
    cfg = run.cfg
    layers = [
        dict(
            name=info.name,
            kind=info.kind,
            role=info.role,
            mode=q.mode,
            weight_bits=weight_bits(q.mode),
        )
        for info, q in zip(net.info, net.quantizers)
        if info.kind != "flatten"
    ]
    enc = (
        f"graded spikes of {cfg.input_bits} bits (unsigned) into the first synapse at every step: "
        + ("event counts per pixel and time bin" if run.meta.event_data else "the pixel intensity")
    )
    return NetxMeta(
        source_run=os.path.abspath(run.run_dir),
        timesteps=cfg.timesteps,
        n_classes=run.meta.n_classes,
        in_shape=list(run.meta.in_shape),
        input_bits=cfg.input_bits,
        input_scale=run.meta.input_scale,
        event_data=run.meta.event_data,
        dataset=cfg.dataset,
        arch=cfg.arch,
        width=cfg.width,
        layers=layers,
        lava_dl_version=lava_dl_version(),
        input_encoding=enc,
    )


def _one(value, what: str, name: str) -> int:
    v = np.asarray(value).reshape(-1)
    if v.size != 1 and np.unique(v).size != 1:
        raise ExportError(f"layer {name}: {what} differs between neurons; Lava's LIF takes one")
    return int(v[0])


def _neuron(blk, info) -> Neuron:
    """The block's CUBA neuron as the chip runs it (SLAYER's ``device_params``)."""
    p = blk.neuron.device_params
    if p.get("type") != "CUBA":
        raise ExportError(f"layer {info.name}: neuron type {p.get('type')!r} is not CUBA")
    threshold = (
        READOUT_THRESHOLD if info.kind == "output" else _one(p["vThMant"], "vThMant", info.name)
    )
    return Neuron(
        threshold,
        _one(p["iDecay"], "iDecay", info.name),
        _one(p["vDecay"], "vDecay", info.name),
        "CUBA",
        _one(p["refDelay"], "refDelay", info.name),
    )


def _block_layer(net, i: int, index: int, shape: tuple) -> Layer:
    """The IR layer of block ``i`` (netx index ``index``) given the previous layer's output ``shape``."""
    info, blk = net.info[i], net.blocks[i]
    if info.kind == "flatten":
        return Layer("flatten", index, shape, (math.prod(shape),))
    if getattr(blk, "delay", None) is not None or getattr(blk.neuron, "norm", None) is not None:
        raise ExportError(f"layer {info.name}: axonal delays and norm biases are not exported")
    syn = blk.synapse
    w = net.quantized_weight(i).numpy()
    if info.kind in ("conv", "pool"):
        w = w.reshape(w.shape[:-1]).astype(np.int64)  # (Cout, Cin/g, kH, kW, 1) -> 4-D, as netx
        out_hw = conv_out_hw(
            *shape[1:], w.shape[2:], syn.stride[:-1], syn.padding[:-1], syn.dilation[:-1]
        )
        return Layer(
            "conv",
            index,
            shape,
            (w.shape[0], *out_hw),
            _neuron(blk, info),
            w,
            stride=syn.stride[:-1],
            padding=syn.padding[:-1],
            dilation=syn.dilation[:-1],
            groups=syn.groups,
        )
    w = w.reshape(w.shape[:2]).astype(np.int64)
    return Layer("dense", index, shape, (w.shape[0],), _neuron(blk, info), w)


def to_ir(run, net=None) -> DeployedNet:
    """The deployment IR of a trained run's base, from its blocks (no file in between). ``net`` is the
    run's chip copy when the caller has made it (``prepare_for_chip``)."""
    if net is None:
        net, _ = prepare_for_chip(run)
    return chip_ir(net, netx_meta(run, net))


def chip_ir(net, meta: NetxMeta) -> DeployedNet:
    """The IR of a chip copy ``net`` described by ``meta``: an ``input`` layer of the input shape, then
    one layer per block, each compute layer named and moded by its ``meta.layers`` entry."""
    shape = tuple(meta.in_shape)
    layers = [Layer("input", 0, shape, shape)]
    for i, info in enumerate(net.info):
        if info.kind not in COMPUTE_KINDS + ("flatten",):
            raise ExportError(f"layer {info.name}: block kind {info.kind!r} has no netx equivalent")
        try:
            layer = _block_layer(net, i, i + 1, shape)
        except ValueError as e:
            raise ExportError(f"layer {info.name}: {e}") from None
        layers.append(layer)
        shape = layer.out_shape
    try:
        return assemble(layers, meta.to_dict())
    except ValueError as e:
        raise ExportError(f"{meta.source_run}: {e}") from None
