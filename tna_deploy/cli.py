"""The ``tna-deploy`` command line. Thin commands; one place turns expected errors into one line."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from typing import Optional

import click

from . import __version__
from .errors import TnaError
from .export.formats import FORMATS
from .simulate.choices import BACKENDS, RECORD_FIELDS
from .train.config import DATASETS, ENGINES, PRESETS, TrainConfig


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


def _choices(registry: dict) -> str:
    return "; ".join(f"{k}: {v}" for k, v in registry.items()) + "."


_SIM_BACKENDS, _SIM_RECORD = _choices(BACKENDS), _choices(RECORD_FIELDS)


_TYPES = {"int": int, "float": float, "str": str, "bool": None}  # bool: an on/off flag pair


def _shown_default(f: dataclasses.Field) -> Optional[str]:
    """A TrainConfig default as the help shows it, read from the field so the two cannot drift."""
    if f.metadata.get("default_text") is not None:
        return f.metadata["default_text"]
    if f.default is None:
        return None
    return {True: "on", False: "off"}[f.default] if isinstance(f.default, bool) else str(f.default)


def config_option(f: dataclasses.Field) -> tuple[list, dict]:
    """The click option of one TrainConfig field, from its metadata (config.py ``_flag_field``):
    ``(param_decls, attrs)``. Every default is None: ``train`` tells given flags by their source,
    and ``with_preset`` (or the saved run) fills the rest."""
    meta = f.metadata
    annotation = str(f.type)
    base = annotation[9:-1] if annotation.startswith("Optional[") else annotation
    flag = meta.get("flag") or "--" + f.name.replace("_", "-")
    if base == "bool" and "/" not in flag:
        flag = f"{flag}/--no-{flag[2:]}"
    choices = meta.get("choices")
    shown = _shown_default(f)
    text = meta["help"].replace("{choices}", " | ".join(choices) if choices is not None else "")
    help_ = text + (f" [{shown}]" if shown is not None else "") + "."
    if choices is not None:
        type_ = click.Choice(list(choices))
    elif meta.get("directory"):
        type_ = click.Path(file_okay=False)
    else:
        type_ = _TYPES[base]
    return [f.name, flag], dict(type=type_, default=None, help=help_)


def config_options(fn):
    """Decorate a command with one option per TrainConfig field marked as a flag, in field order."""
    for f in reversed([f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli")]):
        decls, attrs = config_option(f)
        fn = click.option(*decls, **attrs)(fn)
    return fn


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

    from tqdm import tqdm

    from .train.checkpoint import saved_config
    from .train.config import with_preset
    from .train.distributed import ranks_from_env
    from .train.loop import interrupt_message
    from .train.loop import train as run_training

    started = time.time()
    given = {
        k: v
        for k, v in flags.items()
        if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    }
    saved = (
        saved_config(out) if resume else None
    )  # the checkpoint's, or config.json's before epoch 1 ends
    if saved is not None:
        cfg = TrainConfig.from_dict(dict(saved, **given))  # flags not given come from the saved run
    else:
        cfg = with_preset(preset, given)
    bar = {"b": None}

    def on_batch(epoch, done, n, loss):  # images/s and the epoch's ETA, on a terminal only
        if bar["b"] is None:
            bar["b"] = tqdm(
                total=n,
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                unit="img",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
                disable=None,
            )
        bar["b"].update(done - bar["b"].n)
        bar["b"].set_postfix(loss=f"{loss:.3f}")

    def on_epoch(row):
        if bar["b"] is not None:
            bar["b"].close()
            bar["b"] = None
        twin = f", twin {row['test_acc_twin']:.2f}%" if row.get("test_acc_twin") is not None else ""
        val = (
            f", val base {row['val_acc_base']:.2f}%" if row.get("val_acc_base") is not None else ""
        )
        click.echo(
            f"epoch {row['epoch']}/{cfg.epochs}: loss {row['train_loss']:.4f}, test base "
            f"{row['test_acc_base']:.2f}%{twin}{val}{' [compressed]' if row['compressed'] else ''}, "
            f"{row['images_per_s']:.0f} img/s",
            err=True,
        )

    try:
        result = run_training(
            cfg,
            out,
            resume=resume,
            on_batch=on_batch,
            on_epoch=on_epoch,
            engine=engine,
            device=device,
        )
    except KeyboardInterrupt:
        if bar["b"] is not None:
            bar["b"].close()
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one line, not one per rank
            click.echo(interrupt_message(out, resume, started), err=True)
        sys.exit(130)
    if not ranks_from_env().is_main:
        return
    f = result.final
    twin = f", twin {f['test_acc_twin']:.2f}%" if f.get("test_acc_twin") is not None else ""
    click.echo(
        f"trained {cfg.method}/{cfg.weights} on {cfg.dataset}: {len(result.history)} epochs, test accuracy "
        f"base {f.get('test_acc_base', float('nan')):.2f}%{twin} -> {out}"
    )


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
    from .train.evaluate import evaluate_run

    res = evaluate_run(run_dir, limit_test, data_dir)
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    twins = "".join(f", twin {a:.2f}%" for a in res["test_acc_twins"])
    click.echo(
        f"{run_dir} (epoch {res['epoch']}, {res['samples']} test samples): "
        f"base {res['test_acc_base']:.2f}%{twins}"
    )
    click.echo(
        f"{'layer':<12}{'role':<8}{'mode':<9}{'weights':>9}{'distinct':>10}  values (x1/64: share)"
    )
    for r in res["base_layers"]:
        shares = (
            "  ".join(f"{v:+g}: {s:.1%}" for v, s in sorted(r["shares"].items()))
            if r["shares"]
            else f"zeros {r['zero_share']:.1%}"
        )
        click.echo(
            f"{r['layer']:<12}{r['role']:<8}{r['mode']:<9}{r['n_weights']:>9}{r['distinct']:>10}  {shares}"
        )


@main.command()
@click.argument("source", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="netx",
    show_default=True,
    help="Output format. " + _choices({k: f.help for k, f in FORMATS.items()}),
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
def export(source, fmt, out, allow_overflow):
    """Write a run's base network (never the twin) for Loihi 2 or another runtime, and check the file.

    SOURCE is a run folder; for onnx and nir it may also be a netx file written earlier.

    \b
    Examples:
      tna-deploy export runs/demo --format netx --out export/demo.net
      tna-deploy export runs/demo --format onnx --out export/demo.onnx
      tna-deploy export export/demo.net --format nir --out export/demo.nir
    """
    import os

    from .atomic import check_apart, check_writable
    from .errors import ConfigError
    from .export.formats import default_out, load_ir, writer

    out = out or default_out(source, fmt)
    run_files = (
        [os.path.join(source, n) for n in os.listdir(source)] if os.path.isdir(source) else []
    )
    check_apart(out, [source, *run_files])
    if fmt == "netx":
        from .export import to_netx

        if os.path.isfile(source):
            raise ConfigError(
                f"{source} is a file: --format netx exports a run folder (a netx file is already netx)"
            )
        check_writable(os.path.dirname(os.path.abspath(out)))
        res = to_netx(source, out, allow_overflow=allow_overflow)
        for w in res.warnings:
            click.echo(f"note: {w}", err=True)
        m = res.meta
        click.echo(
            f"exported {source} -> {out}: {len(m.layers)} layers ({len(m.ternary_layers)} ternary), "
            f"T={m.timesteps}, input {m.input_bits}-bit graded spikes, {m.n_classes} classes"
        )
        click.echo(res.table)
        return
    write = writer(fmt)
    check_writable(os.path.dirname(os.path.abspath(out)))
    net = load_ir(source, allow_overflow)
    summary = write(net, out)
    detail = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items() if k != "checked")
    click.echo(
        f"exported {source} -> {out} ({fmt}): {len(net.compute_layers)} layers, T={net.timesteps}, {detail}"
    )
    click.echo(f"checked: {summary['checked']}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--dataset", type=click.Choice(list(DATASETS)), help="Must be the file's dataset [the file's]."
)
@click.option(
    "--samples", default="20", show_default=True, help="Test samples to run back to back, or 'all'."
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
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Results folder."
)
def simulate(file, dataset, samples, input_path, backend, record, run_dir, data_dir, out):
    """Run a netx file (or an ONNX export) on test samples in the emulator, Lava or onnxruntime, and check it
    against the PyTorch model.

    \b
    Examples:
      tna-deploy simulate export/demo.net --samples all --run runs/demo --out sim/demo
      tna-deploy simulate export/demo.net --samples 20 --backend lava,emulator --out sim/demo-lava
      tna-deploy simulate other.net --input spikes.npy --record spikes,voltage --out sim/other
      tna-deploy simulate export/demo.onnx --samples all --backend onnx,emulator --out sim/demo-onnx
    """
    from .atomic import check_apart, out_lock
    from .errors import ConfigError
    from .simulate.choices import default_backend, parse_backends

    backends = parse_backends(backend or default_backend(file))
    if samples != "all" and not samples.isdigit():
        raise ConfigError(f"--samples {samples!r}: give a number of samples or 'all'")
    check_apart(out, [file, input_path, run_dir, data_dir])
    with out_lock(out):
        _simulate(file, dataset, samples, input_path, backends, record, run_dir, data_dir, out)


def _simulate(file, dataset, samples, input_path, backends, record, run_dir, data_dir, out):
    from tqdm import tqdm

    from .simulate.choices import parse_record
    from .simulate.run import simulate as run_sim

    bar = {}

    def on_progress(
        done, total
    ):  # the bar appears once a backend runs, never before an input error
        if "b" not in bar:
            bar["b"] = tqdm(
                total=total,
                desc=",".join(backends),
                unit="sample",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
                disable=None,
            )  # None: no bar when stderr is not a terminal
        bar["b"].update(done - bar["b"].n)

    try:
        res = run_sim(
            file,
            samples,
            out,
            backends,
            run_dir,
            data_dir,
            dataset,
            input_path=input_path,
            record=parse_record(record),
            on_progress=on_progress,
        )
    finally:
        if "b" in bar:
            bar["b"].close()
    for b in backends:
        r = res[b]
        acc = f", accuracy {r['accuracy']:.2f}%" if "accuracy" in r else ""
        rate = f" ({r['samples_per_second']:.1f} samples/s)" if r.get("samples_per_second") else ""
        click.echo(f"{b}: {res['samples']} samples{acc}, {r['seconds']:.1f} s{rate}")
    checks = [("agreement", p) for p in res.get("agreements", [])] + (
        [("parity", res["parity"])] if "parity" in res else []
    )
    for key, p in checks:
        a, b = p["compared"].split(" vs ")
        if key == "parity":
            click.echo(f"pytorch: accuracy {res['torch']['accuracy']:.2f}%")
        click.echo(
            f"{key} {p['compared']}: predictions agree {p['prediction_agreement_pct']:.1f}%, logits equal "
            f"{'yes' if p['logits_equal'] else 'no'} (max diff {p['logits_max_abs_diff']:g}), spikes equal "
            f"{'yes' if p['spikes_equal'] else 'no'}, spike counts equal {'yes' if p['spike_counts_equal'] else 'no'}"
        )
        for r in p["per_layer"]:
            click.echo(
                f"  {r['layer']:<10} {'equal' if r['equal'] else 'DIFFERS'}  {a} {r[a + '_spikes']:>9}  "
                f"{b} {r[b + '_spikes']:>9}  mismatched {r['mismatched']}"
            )
        if p["first_divergence"]:
            d = p["first_divergence"]
            click.echo(
                f"first divergence: layer {d['layer']}, timestep {d['timestep']}, sample {d['sample']}"
            )
    click.echo(f"results -> {out}/results.json, {out}/counts.npz")


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
