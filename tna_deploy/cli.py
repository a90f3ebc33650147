"""The ``tna-deploy`` command line: the list of commands, each one call per stage, and the one place
that turns expected errors into one line. What they print is in cli_print.py, how their options are
built from the registries in cli_options.py."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional

import click

from . import __version__
from .cli_options import choices_help, config_options, train_config
from .errors import TnaError
from .export.formats import FORMATS
from .export.onnx_opsets import DEFAULT_OPSET, OPSETS
from .simulate.choices import BACKENDS, DRIVES, RECORD_FIELDS
from .train.config import DATASETS, ENGINES, PRESETS


def debugging(ctx: Optional[click.Context] = None) -> bool:
    """``--debug`` or ``TNA_DEBUG=1``: show the traceback a one-line error hides."""
    flag = bool(ctx and ctx.params.get("debug"))
    return flag or os.environ.get("TNA_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


class Group(click.Group):
    """Every TnaError becomes ``error: <message>`` on stderr and a non-zero exit, never a traceback
    (unless ``--debug``)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TnaError as e:
            if debugging(ctx):
                import traceback

                traceback.print_exc(file=sys.stderr)
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt as e:
            if os.environ.get("RANK", "0") == "0":  # under torchrun, one line, not one per rank
                click.echo(interrupted(ctx.invoked_subcommand), err=True)
            sys.exit(
                getattr(e, "exit_code", 130)
            )  # 143 where SIGTERM was turned into this (simulate's Lava run)


def interrupted(command) -> str:
    """The line for a Ctrl-C that reached the group: ``train`` reports what it saved itself once it has
    started, so here it had not; no other command writes anything before it finishes."""
    if command == "train":
        return (
            "interrupted before training started: nothing was saved; re-run the same command "
            "(with --resume if --out already holds a run)"
        )
    return f"interrupted: {command or 'tna-deploy'} stopped before it finished; nothing was written"


@click.group(cls=Group)
@click.version_option(__version__, prog_name="tna-deploy")
@click.option("-v", "--verbose", is_flag=True, help="Log library messages to stderr.")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the traceback behind a one-line error (also TNA_DEBUG=1), and log at debug level.",
)
def main(verbose: bool, debug: bool) -> None:
    """Train TNA / ternary spiking networks with lava-dl SLAYER and deploy them to Loihi 2.

    \b
    Example (minutes on 2 CPU cores):
      tna-deploy train --preset cpu --out runs/demo
      tna-deploy evaluate runs/demo
    """
    level = logging.DEBUG if debugging(click.get_current_context()) else logging.INFO
    logging.basicConfig(
        level=level if verbose or level == logging.DEBUG else logging.WARNING,
        format="%(name)s: %(message)s",
    )
    import faulthandler
    import signal

    from .engine import cuba_ext

    cuba_ext.announce = lambda message: click.echo(message, err=True)

    if (
        hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None
    ):  # `kill -USR1 PID`: every thread's stack
        try:
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
        except (
            ValueError,
            OSError,
            AttributeError,
        ):  # stderr without a file descriptor (embedded, tests)
            pass


_SIM_BACKENDS, _SIM_RECORD = choices_help(BACKENDS), choices_help(RECORD_FIELDS)


@main.command()
@config_options
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    help="Start from a preset (cpu: minutes on 2 cores).",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory."
)
@click.option(
    "--resume", is_flag=True, help="Continue the run in --out from its last finished epoch."
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="fast",
    show_default=True,
    help="fast: time-major conv2d + fused CUBA kernel; slayer: lava-dl's own block forward. "
    "Same blocks, spikes and checkpoints.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto | cpu | cuda | cuda:N (under torchrun, cuda means cuda:LOCAL_RANK).",
)
@click.pass_context
def train(ctx, preset, out, resume, engine, device, **flags):
    """Train a spiking network (base + twins under TNA) and compress the base.

    \b
    Examples:
      tna-deploy train --preset cpu --out runs/demo
      tna-deploy train --dataset fashion-mnist --method tna --weights ternary --quantize-epoch 1 \\
          --epochs 2 --width 0.125 --limit-train 2000 --limit-test 500 --batch-size 64 --out runs/x
      tna-deploy train --out runs/x --resume        # continue an interrupted run
      torchrun --nproc-per-node 2 -m tna_deploy train --preset cpu --out runs/ddp
    """
    import time

    from .cli_print import TrainProgress, trained
    from .memory import keep_freed_pages
    from .train.distributed import ranks_from_env
    from .train.loop import interrupt_message
    from .train.loop import train as run_training

    started = time.time()
    cfg = train_config(ctx, preset, out, resume, flags)
    keep_freed_pages()  # each step's activations reuse the last step's memory: no fresh page faults
    progress = TrainProgress(cfg.epochs)
    try:
        result = run_training(
            cfg,
            out,
            resume=resume,
            on_batch=progress.on_batch,
            on_epoch=progress.on_epoch,
            engine=engine,
            device=device,
        )
    except KeyboardInterrupt:
        progress.close()
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one line, not one per rank
            click.echo(interrupt_message(out, resume, started), err=True)
        sys.exit(130)
    if ranks_from_env().is_main:
        trained(cfg, result, out)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--limit-test", type=int, help="Evaluate on the first N test samples [the run's setting]."
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Override the run's dataset folder."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def evaluate(run_dir, limit_test, data_dir, as_json):
    """Test accuracy of a run's base (and twins), and the weight values of every base layer.

    \b
    Example:
      tna-deploy evaluate runs/demo
    """
    from .cli_print import evaluation
    from .train.evaluate import evaluate_run

    evaluation(run_dir, evaluate_run(run_dir, limit_test, data_dir), as_json)


@main.command()
@click.argument("source", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="netx",
    show_default=True,
    help="Output format. " + choices_help({k: f.help for k, f in FORMATS.items()}),
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    help="Output file [export/<name>.net|.onnx|.nir].",
)
@click.option(
    "--allow-overflow",
    is_flag=True,
    help="Export even where the largest graded input can push the first "
    "layer's current past Loihi's 24 bits (the chip then differs from PyTorch on such inputs).",
)
@click.option(
    "--opset",
    type=click.Choice([str(o) for o in OPSETS]),
    help=f"ONNX opset of --format onnx [{DEFAULT_OPSET}: the lowest that onnxruntime and onnx's "
    f"ReferenceEvaluator both run].",
)
def export(source, fmt, out, allow_overflow, opset):
    """Write a run's base network (never the twin) for Loihi 2 or another runtime, and check the file.

    SOURCE is a run folder; for onnx and nir it may also be a netx file written earlier.

    \b
    Examples:
      tna-deploy export runs/demo --format netx --out export/demo.net
      tna-deploy export runs/demo --format onnx --out export/demo.onnx
      tna-deploy export export/demo.net --format nir --out export/demo.nir
      tna-deploy export export/demo.net --format onnx --opset 17 --out export/demo-17.onnx
    """
    from .atomic import check_apart, check_writable
    from .cli_print import exported
    from .export.formats import default_out, load_source, writer, writer_options

    options = writer_options(fmt, {"opset": int(opset) if opset else None})
    out = out or default_out(source, fmt)
    run_files = (
        [os.path.join(source, n) for n in os.listdir(source)] if os.path.isdir(source) else []
    )
    check_apart(out, [source, *run_files])
    write = writer(fmt, source)  # refuses a source the format cannot take, or a missing library
    check_writable(os.path.dirname(os.path.abspath(out)))
    exported(write(load_source(source, allow_overflow), out, **options))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--dataset", type=click.Choice(list(DATASETS)), help="Must be the file's dataset [the file's]."
)
@click.option(
    "--samples",
    default=None,
    help="Samples to run, or 'all' [all of --input; 20 dataset samples].",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    help="Raw input spikes instead of the dataset: .npy integers (K, *input shape, T) or (*input shape, T).",
)
@click.option(
    "--backend",
    "backend",
    default=None,
    help="Comma-separated, the first one feeds the report "
    "[emulator; onnx for a .onnx file]. " + _SIM_BACKENDS,
)
@click.option(
    "--record",
    "record",
    default="",
    help="Also keep, per layer and step, comma-separated: " + _SIM_RECORD,
)
@click.option(
    "--run",
    "run_dir",
    type=click.Path(file_okay=False),
    help="Also run the PyTorch model of this run and report parity.",
)
@click.option("--data-dir", type=click.Path(file_okay=False), help="Dataset folder [the run's].")
@click.option(
    "--stream",
    is_flag=True,
    help="Run each --input sample as one stream in Lava's own time frame (state carried, one step "
    "of latency per layer), not in windows of T steps; sigma-delta networks need it.",
)
@click.option(
    "--reset-interval",
    type=int,
    default=None,
    help="With --stream: reset the neurons every N steps, as netx's reset_interval [never].",
)
@click.option(
    "--reset-offset",
    type=int,
    default=0,
    show_default=True,
    help="With --reset-interval: netx's reset_offset (layer i resets at step % N == offset + 1 + i).",
)
@click.option(
    "--input-drive",
    "drive",
    type=click.Choice(list(DRIVES)),
    default="spikes",
    show_default=True,
    help="How --input's values reach the network. " + choices_help(DRIVES),
)
@click.option("--steps", type=int, default=None, help="Steps per frame with --input-drive bias.")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Results folder."
)
def simulate(
    file,
    dataset,
    samples,
    input_path,
    backend,
    record,
    run_dir,
    data_dir,
    stream,
    reset_interval,
    reset_offset,
    drive,
    steps,
    out,
):
    """Run a netx file (or an ONNX export) on test samples in the emulator, Lava or onnxruntime, and check it
    against the PyTorch model.

    \b
    Examples:
      tna-deploy simulate export/demo.net --samples all --run runs/demo --out sim/demo
      tna-deploy simulate export/demo.net --samples 20 --backend lava,emulator --out sim/demo-lava
      tna-deploy simulate other.net --input spikes.npy --record spikes,voltage --out sim/other
      tna-deploy simulate export/demo.onnx --samples all --backend onnx,emulator --out sim/demo-onnx
      tna-deploy simulate pilotnet.net --input image.npy --input-drive bias --steps 16 --out sim/p
      tna-deploy simulate sdnn.net --input video.npy --stream --out sim/sdnn
    """
    from .atomic import check_apart, out_lock
    from .errors import ConfigError
    from .simulate.choices import default_backend, parse_backends, parse_record
    from .simulate.run import Options

    backends = parse_backends(backend or default_backend(file))
    if samples is None:
        samples = "all" if input_path else "20"
    if samples != "all" and not samples.isdigit():
        raise ConfigError(f"--samples {samples!r}: give a number of samples or 'all'")
    opts = Options(
        samples,
        backends,
        run_dir,
        data_dir,
        dataset,
        input_path,
        parse_record(record),
        stream=stream,
        reset_interval=reset_interval,
        reset_offset=reset_offset,
        drive=drive,
        steps=steps,
    )
    opts.check()
    check_apart(out, [file, input_path, run_dir, data_dir])
    with out_lock(out):
        _simulate(file, opts, out)


def _simulate(file, opts, out):
    from .cli_print import SimProgress, simulated
    from .memory import keep_freed_pages
    from .simulate.choices import label
    from .simulate.run import simulate_with

    progress = SimProgress(opts.backends)
    keep_freed_pages()  # the emulator's rasters reuse freed memory instead of faulting in fresh pages
    start = time.perf_counter()
    try:
        res = simulate_with(file, out, opts, progress.on_progress).to_dict()
    finally:
        progress.close()
    simulated(res, opts.backends, out, time.perf_counter() - start, label)


@main.command()
@click.argument("sim_dir", type=click.Path(file_okay=False))
@click.option(
    "--hardware",
    default="loihi2",
    show_default=True,
    help="A packaged profile (loihi2, loihi1) or a path to your own profile (a value with a '/' "
    "or ending in .toml); the report names the file used.",
)
@click.option(
    "--netx",
    "netx_path",
    type=click.Path(dir_okay=False),
    help="The netx file [the one simulate ran].",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Report folder."
)
@click.option(
    "--format",
    "formats",
    default="json,md,html",
    show_default=True,
    help="Comma-separated: json, md, html.",
)
def report(sim_dir, hardware, netx_path, out, formats):
    """Op counts, memory, cores and energy of a simulated network on a chip profile.

    \b
    Example:
      tna-deploy report sim/demo --hardware loihi2 --out export/demo-report --format json,md,html
    """
    from .atomic import check_apart, check_writable, out_lock
    from .errors import ConfigError
    from .report.render import FORMATS

    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise ConfigError(f"--format {formats!r}: choose from json, md, html (comma-separated)")
    hardware_file = hardware if ("/" in hardware or hardware.endswith(".toml")) else None
    check_apart(out, [sim_dir, netx_path, hardware_file])
    check_writable(out)
    with out_lock(out):
        _report(sim_dir, hardware, netx_path, out, wanted)


def _report(sim_dir, hardware, netx_path, out, wanted):
    import os

    from .atomic import OutputSet, verify_set
    from .errors import ConfigError
    from .report import build_report
    from .report.render import FORMATS, summary_lines

    verify_set(sim_dir, "simulate", ("results.json", "counts.npz"))
    r = build_report(sim_dir, hardware, netx_path)
    texts = {FORMATS[f][0]: FORMATS[f][1](r).encode() for f in wanted}  # rendered before writing
    try:
        with OutputSet(out, "report") as written:
            for name, text in texts.items():
                written.write(name, lambda fh, t=text: fh.write(t))
            written.close()
    except OSError as e:
        raise ConfigError(
            f"--out {out}: could not write the report ({e.strerror or type(e).__name__}); the "
            f"previous report there is unchanged: free some space and re-run"
        ) from None
    written = [os.path.join(out, name) for name in texts]
    for line in summary_lines(r):
        click.echo(line.replace("**", ""))
    click.echo("report -> " + ", ".join(written))
