"""The export formats, in one registry: ``export --format``, its help and its writers read it.

Every format is written the same way: the source (a run folder, or a netx file where the format takes
one) is resolved to the IR once (``load_source``), and the format's writer, a function
``(Source, path) -> Exported``, writes the file, checks it and says what it wrote. A new format is one
writer module and one line here."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field

from ..errors import ConfigError


@dataclass(frozen=True)
class Format:
    help: str
    suffix: str
    writer: str  # "module:function" under tna_deploy.export: (Source, path) -> Exported
    needs: str = ""  # the pip extra it needs, if any
    no_file: str = ""  # why a netx file is no source for it; empty where it is one
    options: tuple = ()  # the export options (CLI flags) its writer takes as keywords


FORMATS = {
    "netx": Format(
        "lava-dl netx HDF5 for Lava and Loihi 2, loaded back in netx to check",
        ".net",
        "netx:export_netx",
        no_file="a netx file is already netx",
    ),
    "onnx": Format(
        "ONNX, integer-exact in onnxruntime (logits and every layer's spikes), checked against the "
        "emulator",
        ".onnx",
        "onnx_writer:export_onnx",
        "onnx",
        options=("opset",),
    ),
    "nir": Format(
        "NIR graph (Conv2d / Linear / CubaLIF) for snnTorch, Norse, Sinabs, SpiNNaker2 and other NIR "
        "tools, float dynamics with the exact integers in metadata",
        ".nir",
        "nir_writer:export_nir",
        "nir",
    ),
}


@dataclass
class Source:
    """What an export writes from: the source as the user named it, its IR, and the notes preparing a
    run for the chip left (8-bit quantization of full-precision layers, an overflow allowed)."""

    path: str
    net: object  # ir.DeployedNet
    notes: list = field(default_factory=list)


@dataclass
class Exported:
    """What a writer did, as the CLI prints it: each note on stderr, then ``line`` and ``check``."""

    line: str  # "exported SOURCE -> OUT ...": what was written
    check: str  # what reading the file back found
    notes: list = field(default_factory=list)


def writer(fmt: str, source: str):
    """The writer of ``fmt``, once ``source`` is one it takes and its library imports."""
    spec = FORMATS[fmt]
    if spec.no_file and os.path.isfile(source):
        raise ConfigError(
            f"{source} is a file: --format {fmt} exports a run folder ({spec.no_file})"
        )
    module, func = spec.writer.split(":")
    try:
        return getattr(importlib.import_module(f".{module}", __package__), func)
    except ImportError as e:
        raise ConfigError(
            f"--format {fmt} needs the {e.name} package: pip install 'tna-deploy[{spec.needs}]'"
        ) from None


def writer_options(fmt: str, given: dict) -> dict:
    """The options given (``None`` is not given) as keywords for ``fmt``'s writer; one that the format
    does not take is refused in one line."""
    given = {k: v for k, v in given.items() if v is not None}
    for name in given:
        if name not in FORMATS[fmt].options:
            takers = [f for f, spec in FORMATS.items() if name in spec.options]
            raise ConfigError(
                f"--{name} applies to --format {' / '.join(takers)}, not --format {fmt}"
            )
    return given


def default_out(source: str, fmt: str) -> str:
    base = os.path.basename(os.path.normpath(source))
    base = os.path.splitext(base)[0] if os.path.isfile(source) else base
    return os.path.join("export", base + FORMATS[fmt].suffix)


def load_source(source: str, allow_overflow: bool = False) -> Source:
    """``source`` as the IR: a netx file read back, or a run folder's base prepared for the chip."""
    if os.path.isfile(source):
        from ..ir import read_netx

        return Source(source, read_netx(source))
    return run_source(source, allow_overflow)


def run_source(run_dir: str, allow_overflow: bool = False) -> Source:
    """The base of ``run_dir`` as the chip runs it: full-precision layers quantized to 8 bits, and
    refused (unless ``allow_overflow``) where the largest input can overflow the first layer's current."""
    from ..models.chip import check_mappable, prepare_for_chip, to_ir
    from ..train.runs import load_run

    run = load_run(run_dir, with_twins=False)
    net, notes = prepare_for_chip(run)
    notes = notes + check_mappable(net, float((1 << run.cfg.input_bits) - 1), allow_overflow)
    return Source(run_dir, to_ir(run, net), notes)


def ir_summary(fmt: str, src: Source, path: str, summary: dict) -> Exported:
    """``Exported`` from the summary dict of an IR writer (``write_onnx``, ``write_nir``): its figures
    on one line, then its ``checked``. As before, these formats do not repeat the run's notes."""
    detail = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items() if k != "checked")
    net = src.net
    return Exported(
        f"exported {src.path} -> {path} ({fmt}): {len(net.compute_layers)} layers, "
        f"T={net.timesteps}, {detail}",
        f"checked: {summary['checked']}",
    )
