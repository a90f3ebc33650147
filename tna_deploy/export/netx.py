"""Export the base network of a run as lava-dl netx HDF5, with its metadata, and verify it loads.

File layout (what ``lava.lib.dl.netx.hdf5.Network`` reads):
  layer/0          type 'input', shape (C, H, W), no neuron: the input arrives as graded spikes
                   straight into the first synapse (``Network(input_message_bits=...)``)
  layer/1..n       each SLAYER block's own ``export_hdf5``: conv (pools are grouped convs),
                   flatten, dense, and the read-out as a dense layer with an unreachable threshold
  attrs on /       tna-deploy metadata (``NetxMeta``): format version, versions, source run,
                   timesteps, input encoding, classes, layer table with roles and weight modes
Integer weights are exactly ``pre_hook_fx(w, descale=True)``: the values the forward pass used.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import __version__
from ..atomic import atomic_path
from ..errors import CheckpointError, TnaError
from ..ir.netx import TNA_FORMAT, TNA_FORMAT_VERSION
from ..train.runs import LoadedRun, load_run

log = logging.getLogger(__name__)
FORMAT = TNA_FORMAT
FORMAT_VERSION = TNA_FORMAT_VERSION
U_LIMIT = (1 << 23) - 1  # Loihi's 24-bit signed current/voltage


class ExportError(TnaError):
    """The network cannot be mapped to Loihi 2 as it stands."""


@dataclass
class NetxMeta:
    """Everything ``simulate`` needs besides the netx layers themselves."""

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
    layers: list = field(
        default_factory=list
    )  # per netx layer: name, kind, role, mode, weight_bits
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    tna_deploy_version: str = __version__
    lava_dl_version: str = ""
    input_encoding: str = ""

    @property
    def ternary_layers(self) -> list:
        return [entry["name"] for entry in self.layers if entry["mode"] in ("ternary", "binary")]


@dataclass
class ExportResult:
    path: str
    meta: NetxMeta
    table: str  # netx's own layer table, from loading the file
    warnings: list


def _lava_dl_version() -> str:
    try:
        from importlib.metadata import version

        return version("lava-dl")
    except Exception:  # metadata missing in odd installs: the field is informative only
        return "unknown"


def prepare_for_chip(run: LoadedRun) -> tuple[object, list[str]]:
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

    with (
        torch.no_grad()
    ):  # SLAYER learns each neuron's shape on its first forward pass; export needs it
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
        if info.kind not in ("conv", "pool", "dense", "output"):
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


def to_netx(
    run_dir: str, out_path: str, verify: bool = True, allow_overflow: bool = False
) -> ExportResult:
    """Write the base network of ``run_dir`` to ``out_path``: written and loaded back in netx under a temp
    name, renamed into place only then, so an interrupted or failed export leaves nothing behind."""
    run = load_run(run_dir, with_twins=False)
    net, notes = prepare_for_chip(run)
    warnings = notes + check_mappable(net, float((1 << run.cfg.input_bits) - 1), allow_overflow)
    meta = _meta(run, net)
    table = ""
    with atomic_path(out_path) as tmp:
        _write_h5(tmp, net, meta)
        if verify:
            try:
                table = netx_table(tmp, meta)
            except Exception as e:  # netx raised: the file must not appear as if it were good
                raise ExportError(
                    f"{out_path}: netx could not load the exported network "
                    f"({type(e).__name__}: {str(e).splitlines()[0][:120]})"
                ) from None
    log.info("exported %s -> %s", run_dir, out_path)
    return ExportResult(out_path, meta, table, warnings)


def _meta(run: LoadedRun, net) -> NetxMeta:
    cfg = run.cfg
    layers = []
    for info, q in zip(net.info, net.quantizers):
        if info.kind == "flatten":
            continue
        bits = {"ternary": 2, "binary": 1, "int8": 8}.get(q.mode, 8)
        layers.append(
            dict(name=info.name, kind=info.kind, role=info.role, mode=q.mode, weight_bits=bits)
        )
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
        lava_dl_version=_lava_dl_version(),
        input_encoding=enc,
    )


def _write_h5(path: str, net, meta: NetxMeta) -> None:
    import h5py

    with h5py.File(path, "w") as h:
        for key, value in asdict(meta).items():
            h.attrs[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
        layer = h.create_group("layer")
        g = layer.create_group("0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array(meta.in_shape))
        for k, blk in enumerate(net.blocks, start=1):
            blk.export_hdf5(layer.create_group(str(k)))


def read_meta(path: str) -> NetxMeta:
    """The tna-deploy metadata of a netx file, every field checked; one-line errors for anything else."""
    import h5py

    from ..ir.netx import _attr, _meta

    if not os.path.isfile(path):
        raise CheckpointError(
            f"{path}: no such file; export one with tna-deploy export RUN --format netx"
        )
    try:
        with h5py.File(path, "r") as h:
            attrs = dict(h.attrs)
            n_layers = len(h["layer"]) if "layer" in h and isinstance(h["layer"], h5py.Group) else 0
    except Exception as e:  # noqa: BLE001 -- OSError, and others from a damaged file's attributes
        reason = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
        raise CheckpointError(
            f"{path}: not a readable HDF5 file ({reason}); re-export it with tna-deploy export"
        ) from None
    if _attr(attrs.get("format")) != FORMAT or n_layers < 2:
        raise CheckpointError(
            f"{path}: not a tna-deploy netx file (no {FORMAT} metadata); "
            f"export it with tna-deploy export RUN --format netx"
        )
    try:
        meta = _meta(attrs)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    known = set(NetxMeta.__dataclass_fields__)
    return NetxMeta(**{k: v for k, v in meta.items() if k in known})


def netx_table(path: str, meta: NetxMeta) -> str:
    """Load ``path`` in netx (as ``simulate`` will) and return its layer table."""
    from ..lava_import import quiet_import

    netx = quiet_import("lava.lib.dl.netx")
    net = netx.hdf5.Network(net_config=path, input_message_bits=meta.input_bits + 1)
    table = str(net)
    release_netx(net)
    return table


def release_netx(net) -> None:
    """netx never closes its h5py handle; drop it so the file can be replaced later."""
    cfg = getattr(net, "net_config", None)
    handle = getattr(cfg, "f", None)
    del net
    gc.collect()
    if handle is not None:
        try:
            handle.close()
        except Exception:  # already closed
            pass
