"""``simulate``: run a netx file (or a tna-deploy ONNX export) on test samples (or on raw input spikes) in
the emulator, Lava and / or onnxruntime, optionally beside the run's PyTorch model, chunk by chunk with
bounded memory, and write the simulation record (``results``) for the report stage.

The jobs live beside this module: ``inputs`` (samples), ``reference`` (PyTorch), ``backends`` (one runner
per backend), ``collect`` (counts and op counts), ``compare`` (parity), ``results`` (the record, its
writer with the rescue path, and its reader). This module checks the arguments and runs the chunks."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from typing import Callable, Optional

import numpy as np

from ..atomic import check_writable, file_sha256
from ..engine.emulator import Stream, bytes_per_sample, largest_layer
from ..engine.trace import Trace
from ..errors import ConfigError
from ..ir import DeployedNet, read_netx
from ..ir.onnx_model import is_onnx, read_onnx
from ..lava_import import require
from ..memory import refuse_over
from .backends import RUNNERS
from .choices import DRIVES, PYTORCH, SOURCE_NAMES
from .collect import Collector
from .compare import Parity
from .inputs import Inputs, dataset_inputs, file_inputs
from .reference import TorchReference
from .results import (  # noqa: F401  (COUNTS ... SimulationError: where callers have found them)
    COUNTS,
    FORMAT,
    FORMAT_VERSION,
    RESULTS,
    SPIKES,
    STATE,
    Counts,
    Recorded,
    SimResults,
    SimulationError,
    Summary,
    Timing,
    write,
)

__all__ = ["Options", "simulate", "simulate_with", "dataset_inputs", "SimulationError"]
RECORD_BUDGET = 4 << 30  # bytes a --record may keep in memory
CHUNK_BUDGET = 1 << 30  # bytes of neuron state per emulator chunk


@dataclasses.dataclass(frozen=True)
class Options:
    """What to simulate, beside the file and the output folder (the CLI's flags)."""

    samples: object = "all"  # an int or 'all'
    backends: tuple = ("emulator",)  # the first one feeds the report
    run_dir: Optional[str] = None  # --run: also the run's PyTorch model, and the parity
    data_dir: Optional[str] = None
    dataset: Optional[str] = None
    input_path: Optional[str] = None  # --input X.npy instead of dataset samples
    record: tuple = ()  # of choices.RECORD_FIELDS
    chunk: Optional[int] = None  # samples per chunk [as the memory budget allows]
    stream: bool = False  # --stream: each --input sample is one stream in Lava's time frame
    reset_interval: Optional[int] = None  # --reset-interval (with --stream) [never]
    reset_offset: int = 0  # --reset-offset (with --reset-interval), netx's meaning
    drive: str = "spikes"  # --input-drive: into the input neuron's a_in (spikes) or its bias
    steps: Optional[int] = None  # --steps: how long a bias-driven sample runs

    def timing(self) -> Optional[Stream]:
        """The emulator's ``Stream`` (None: per-sample windows)."""
        return Stream(self.reset_interval, self.reset_offset) if self.stream else None

    def _check_timing(self) -> None:
        """--stream, --reset-interval / --reset-offset, --input-drive and --steps belong together."""
        if self.reset_interval is not None and not self.stream:
            raise ConfigError("--reset-interval applies to --stream runs; add --stream")
        if self.reset_offset and self.reset_interval is None:
            raise ConfigError("--reset-offset needs --reset-interval (without it nothing resets)")
        if self.reset_interval is not None and self.reset_interval < 1:
            raise ConfigError(f"--reset-interval {self.reset_interval}: give at least 1 step")
        if (self.stream or self.drive != "spikes") and not self.input_path:
            flag = "--stream" if self.stream else "--input-drive bias"
            raise ConfigError(f"{flag} runs the samples of --input X.npy; give one")
        if self.drive not in DRIVES:
            raise ConfigError(f"--input-drive {self.drive!r}: one of {', '.join(DRIVES)}")
        if (self.drive == "bias") != (self.steps is not None):
            raise ConfigError(
                "--input-drive bias runs each frame for --steps N steps; give both, or neither"
            )
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"--steps {self.steps}: give at least 1 step")
        if "onnx" in self.backends and (self.stream or self.drive != "spikes"):
            raise ConfigError(
                "the ONNX model runs per-sample windows of spikes; use --backend emulator (or lava) "
                "for --stream and --input-drive bias"
            )

    def check(self) -> None:
        """What the flags alone can refuse, before any file is read."""
        self._check_timing()
        if "lava" in self.backends:
            require("lava.lib.dl.netx", "simulate --backend lava")
        if self.samples not in ("all", None) and int(self.samples) < 1:
            raise ConfigError(f"--samples must be at least 1 or 'all', got {self.samples}")
        if "onnx" in self.backends and set(self.record) & {"current", "voltage"}:
            raise ConfigError(
                "--record current,voltage: the ONNX model outputs logits and spikes only; record "
                "them with --backend emulator"
            )
        if self.input_path and self.run_dir:
            raise ConfigError(
                "--run compares with the PyTorch model on dataset samples; it does not take --input"
            )


def simulate(
    path: str,
    samples,
    out_dir: str,
    backends=("emulator",),
    run_dir: Optional[str] = None,
    data_dir: Optional[str] = None,
    dataset: Optional[str] = None,
    input_path: Optional[str] = None,
    record: tuple = (),
    chunk: Optional[int] = None,
    on_progress: Optional[Callable[[int, int], None]] = None,
) -> dict:
    """Run ``samples`` (an int or 'all') through every backend in ``backends``; see the module doc.
    Returns results.json's content."""
    if isinstance(backends, str):
        backends = (backends,)
    options = Options(
        samples, tuple(backends), run_dir, data_dir, dataset, input_path, tuple(record), chunk
    )
    return simulate_with(path, out_dir, options, on_progress).to_dict()


def simulate_with(
    path: str, out_dir: str, opts: Options, on_progress: Optional[Callable] = None
) -> SimResults:
    """``simulate`` with its flags as ``Options``; returns the record it wrote to ``out_dir``."""
    start = time.perf_counter()
    opts.check()
    check_writable(out_dir)
    net, inputs, onnx_bytes = _load(path, opts)
    backends, record, n, t = opts.backends, opts.record, inputs.n, inputs.timesteps
    check_fits(path, net, t, opts)
    per_sample = (
        sum(layer.neurons for layer in net.compute_layers)
        * t
        * (1 + 8 * len(set(record) - {"spikes"}))
    )
    if record and per_sample * n * (len(backends) + 1) > RECORD_BUDGET:
        raise ConfigError(
            f"--record {','.join(record)} on {n} samples would keep about "
            f"{per_sample * n * (len(backends) + 1) / 2**30:.1f} GiB; record fewer --samples"
        )
    ref = TorchReference(opts.run_dir, net) if opts.run_dir else None
    names = [layer.name for layer in net.compute_layers]
    runners = {b: RUNNERS[b](path, net, onnx_bytes, record, opts) for b in backends}
    collect = {b: Collector(net, record) for b in backends}
    chip = backends[0]
    parity = Parity(names[:-1], chip, PYTORCH) if ref else None
    reference = "emulator" if "emulator" in backends else backends[-1]
    agreements = [
        Parity(names[:-1], b, reference)
        for b in sorted(backends, key=SOURCE_NAMES.index)
        if b != reference
    ]
    torch_c = Collector(net, record) if ref else None
    alone = backends == ("lava",)  # Lava alone reports its progress sample by sample
    for runner in runners.values():
        runner.prepare(inputs, on_progress if alone else None)
    size = opts.chunk or chunk_size(net, t, record)
    input_counts, input_max = [], 0
    clock = Clock()
    for a in range(0, n, size):
        b = min(n, a + size)
        x = inputs.chunk(a, b)
        # what enters the first synapse step by step (a bias-driven frame sends nothing)
        seen = np.zeros(x.shape + (t,), np.uint8) if opts.drive == "bias" else x
        got = {}
        for name, runner in runners.items():
            t0 = time.perf_counter()
            got[name] = runner.run(x, a, b)
            seconds = time.perf_counter() - t0
            with clock("counting"):
                collect[name].add(seen, got[name], seconds)
        input_counts.append((seen.reshape(len(x), -1, t) != 0).sum(axis=1))
        input_max = max(input_max, int(np.abs(x).max()) if x.size else 0)
        with clock("comparison"):
            for g in agreements:
                g.update(
                    a,
                    got[g.a].spikes[: len(names) - 1],
                    got[g.b].spikes[: len(names) - 1],
                    got[g.a].logits,
                    got[g.b].logits,
                )
        if ref:
            chip_spikes = got[chip].spikes[: len(names) - 1]
            t0 = time.perf_counter()
            tr = torch_reference(ref, x)
            seconds = time.perf_counter() - t0
            with clock("comparison"):
                equal = parity.update(a, chip_spikes, tr.spikes, got[chip].logits, tr.logits)
            with clock("counting"):
                if equal and seen is x:  # the same input and spikes: the chip's counts and ops
                    torch_c.add_equal(collect[chip], tr, seconds)
                else:
                    torch_c.add(x, tr, seconds)
        if on_progress and not alone:
            on_progress(b, n)
    for name, runner in runners.items():
        if runner.seconds is not None:
            collect[name].seconds = runner.seconds
    labels = inputs.labels
    summaries = {
        b: Summary.of(c.all_logits(), labels, c.seconds, **runners[b].summary_extra())
        for b, c in collect.items()
    }
    if torch_c:
        summaries[PYTORCH] = Summary.of(
            torch_c.all_logits(), labels, torch_c.seconds, run=os.path.abspath(opts.run_dir)
        )
    results = SimResults(
        file=os.path.abspath(path),
        file_sha256=file_sha256(path),
        dataset=inputs.dataset,
        input=inputs.source,
        samples=n,
        timesteps=t,
        input_bits=net.input_bits,
        input_max=input_max,
        layers=names,
        backends=list(backends),
        labels=labels.tolist() if labels is not None else None,
        summaries=summaries,
        parity=parity.result() if parity else None,
        agreements=[g.result() for g in agreements],
        timing=Timing(
            round(time.perf_counter() - start, 3),
            **{part: round(v, 3) for part, v in clock.seconds.items()},
        ),
    )
    sources = dict(collect, **({PYTORCH: torch_c} if torch_c else {}))
    counts = Counts(
        np.concatenate(input_counts), {s: c.source_counts() for s, c in sources.items()}, labels
    )
    recorded = Recorded(
        input=inputs.chunk(0, n) if "spikes" in record else None,
        spikes={s: c.spike_layers() for s, c in sources.items()},
        state={b: c.state_layers() for b, c in collect.items()}
        if set(record) & {"current", "voltage"}
        else None,
    )
    write(out_dir, results, counts, recorded)
    return results


class Clock:
    """Wall seconds per part of the chunk loop (``with clock("counting"): ...``)."""

    def __init__(self):
        self.seconds: dict = {}

    @contextlib.contextmanager
    def __call__(self, part: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - t0


def _load(path: str, opts: Options) -> tuple[DeployedNet, Inputs, Optional[bytes]]:
    """The network (from a netx or an ONNX file) and its inputs."""
    onnx_bytes = None
    if is_onnx(path):
        if "lava" in opts.backends:
            raise ConfigError(
                f"{path}: Lava runs netx files; simulate the netx file with --backend lava, "
                f"or this file with --backend onnx,emulator"
            )
        net, onnx_bytes = read_onnx(path)
    else:
        net = read_netx(path)
    if opts.input_path:
        bits = net.input_bits
        inputs, net = file_inputs(net, opts.input_path, opts.samples, opts.drive, opts.steps)
        if onnx_bytes is not None and net.input_bits != bits:
            raise ConfigError(
                f"--input {opts.input_path}: graded values, but {path} was exported for 0/1 input "
                f"spikes; simulate the netx file instead, which takes them"
            )
        return net, inputs, onnx_bytes
    data_dir = opts.data_dir
    if data_dir is None and opts.run_dir:
        from ..train.runs import load_run

        data_dir = load_run(opts.run_dir, with_twins=False).cfg.data_dir
    return net, dataset_inputs(net, path, opts.samples, data_dir, opts.dataset), onnx_bytes


def torch_reference(ref: TorchReference, x: np.ndarray) -> Trace:
    """One chunk through the PyTorch model (a seam for tests)."""
    return ref(x)


def chunk_size(net: DeployedNet, timesteps: int, record: tuple) -> int:
    per_sample = bytes_per_sample(net, timesteps, bool(record))
    return int(max(1, min(1000, CHUNK_BUDGET // max(per_sample, 1))))


def check_fits(path: str, net: DeployedNet, timesteps: int, opts: Options) -> None:
    """The memory guard: one sample in every source at once must fit, checked on the IR before any
    source is built (a 77 KB file can describe layers of millions of neurons)."""
    copies = len(opts.backends) + (1 if opts.run_dir else 0)
    need = bytes_per_sample(net, timesteps, bool(opts.record)) * copies
    refuse_over(
        need,
        f"{path}: one sample in {copies} source(s) ({largest_layer(net)})",
        "simulate a smaller network, or on a machine with more memory",
    )
