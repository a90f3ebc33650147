"""Export the base network of a run as lava-dl netx HDF5, with its metadata, and verify it loads.

File layout (what ``lava.lib.dl.netx.hdf5.Network`` reads), written from the run's IR
(``models/chip.to_ir``) by ``ir.write_netx``:
  layer/0          type 'input', shape (C, H, W), no neuron: the input arrives as graded spikes
                   straight into the first synapse (``Network(input_message_bits=...)``)
  layer/1..n       one per SLAYER block: conv (pools are grouped convs), flatten, dense, and the
                   read-out as a dense layer with an unreachable threshold
  attrs on /       tna-deploy metadata (``ir.NetxMeta``): format version, versions, source run,
                   timesteps, input encoding, classes, layer table with roles and weight modes
Integer weights are exactly ``pre_hook_fx(w, descale=True)``: the values the forward pass used.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass

from ..atomic import atomic_path
from ..errors import CheckpointError, ExportError
from ..ir import NetxMeta
from ..ir.meta import FORMAT, FORMAT_VERSION, decode_attrs, is_tna
from ..ir.netx import netx_bytes
from ..lava_import import missing, quiet_import
from ..models.chip import prepare_for_chip

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ExportError",
    "ExportResult",
    "NetxMeta",
    "netx_table",
    "prepare_for_chip",
    "read_meta",
    "release_netx",
    "to_netx",
]
log = logging.getLogger(__name__)
NETX = "lava.lib.dl.netx"


@dataclass
class ExportResult:
    path: str
    meta: NetxMeta
    table: str  # netx's own layer table, from loading the file
    warnings: list


def to_netx(
    run_dir: str, out_path: str, verify: bool = True, allow_overflow: bool = False
) -> ExportResult:
    """Write the base network of ``run_dir`` to ``out_path``: written and loaded back in netx under a temp
    name, renamed into place only then, so an interrupted or failed export leaves nothing behind."""
    from .formats import run_source

    return _write(run_source(run_dir, allow_overflow), out_path, verify)


def export_netx(src, path: str):
    """The ``--format netx`` writer (``export/formats.py``): ``to_netx`` of a resolved source."""
    from .formats import Exported

    res = _write(src, path)
    m = res.meta
    return Exported(
        f"exported {src.path} -> {path}: {len(m.layers)} layers ({len(m.ternary_layers)} ternary), "
        f"T={m.timesteps}, input {m.input_bits}-bit graded spikes, {m.n_classes} classes",
        res.table,
        res.warnings,
    )


def _write(src, out_path: str, verify: bool = True) -> ExportResult:
    meta = NetxMeta.from_dict(src.net.meta)
    table, data = "", netx_bytes(src.net)  # built in memory: HDF5 onto a full disk can crash
    notes = list(src.notes)
    try:
        with atomic_path(out_path) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
            if verify:
                table = _verify(tmp, meta, out_path, notes)
    except OSError as e:
        raise ExportError(
            f"--out {out_path}: could not write it ({e.strerror or type(e).__name__}); nothing was "
            f"written: free some space or choose another place"
        ) from None
    log.info("exported %s -> %s", src.path, out_path)
    return ExportResult(out_path, meta, table, notes)


def _verify(tmp: str, meta: NetxMeta, out_path: str, notes: list) -> str:
    """netx's layer table of the file written at ``tmp``; where Lava cannot run (Python 3.11+, or no
    lava extra) the file is read back by tna-deploy's own netx reader instead, and a note says so."""
    reason = missing(NETX, "loading it back in netx")
    if reason:
        from ..ir import read_netx

        net = read_netx(tmp)
        notes.append(f"read back by tna-deploy's netx reader, not by netx: {reason}")
        return f"read back by tna-deploy's netx reader: {len(net.layers)} layers"
    try:
        return netx_table(tmp, meta)
    except Exception as e:  # netx raised: the file must not appear as if it were good
        raise ExportError(
            f"{out_path}: netx could not load the exported network "
            f"({type(e).__name__}: {str(e).splitlines()[0][:120]})"
        ) from None


def read_meta(path: str) -> NetxMeta:
    """The tna-deploy metadata of a netx file, every field checked; one-line errors for anything else."""
    import h5py

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
    if not is_tna(attrs) or n_layers < 2:
        raise CheckpointError(
            f"{path}: not a tna-deploy netx file (no {FORMAT} metadata); "
            f"export it with tna-deploy export RUN --format netx"
        )
    try:
        return NetxMeta.from_dict(decode_attrs(attrs))
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None


def netx_table(path: str, meta: NetxMeta) -> str:
    """Load ``path`` in netx (as ``simulate`` will) and return its layer table."""
    netx = quiet_import(NETX, "loading a netx file in netx")
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
