"""The export formats, in one registry: ``export --format`` and its help read it. A new format is one
writer module (a function ``(DeployedNet, path) -> dict`` reading the IR) and one line here."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Format:
    help: str
    suffix: str
    writer: str = (
        ""  # "module:function" under tna_deploy.export; empty for netx (written from the run)
    )
    needs: str = ""  # the pip extra it needs, if any


FORMATS = {
    "netx": Format("lava-dl netx HDF5 for Lava and Loihi 2, loaded back in netx to check", ".net"),
    "onnx": Format(
        "ONNX, integer-exact in onnxruntime (logits and every layer's spikes), checked against the "
        "emulator",
        ".onnx",
        "onnx_writer:write_onnx",
        "onnx",
    ),
    "nir": Format(
        "NIR graph (Conv2d / Linear / CubaLIF) for snnTorch, Norse, Sinabs, SpiNNaker2 and other NIR "
        "tools, float dynamics with the exact integers in metadata",
        ".nir",
        "nir_writer:write_nir",
        "nir",
    ),
}


def writer(fmt: str):
    module, func = FORMATS[fmt].writer.split(":")
    try:
        return getattr(importlib.import_module(f".{module}", __package__), func)
    except ImportError as e:
        raise ConfigError(
            f"--format {fmt} needs the {e.name} package: pip install 'tna-deploy[{FORMATS[fmt].needs}]'"
        ) from None


def default_out(source: str, fmt: str) -> str:
    base = os.path.basename(os.path.normpath(source))
    base = os.path.splitext(base)[0] if os.path.isfile(source) else base
    return os.path.join("export", base + FORMATS[fmt].suffix)


def load_ir(source: str, allow_overflow: bool = False):
    """The IR of ``source``: a netx file, or a run folder (its base, checked as ``to_netx`` checks it)."""
    from ..ir import read_netx

    if os.path.isfile(source):
        return read_netx(source)
    from ..models.chip import check_mappable, prepare_for_chip, to_ir
    from ..train.runs import load_run

    run = load_run(source, with_twins=False)
    net, _ = prepare_for_chip(run)
    check_mappable(net, float((1 << run.cfg.input_bits) - 1), allow_overflow)
    return to_ir(run, net)
