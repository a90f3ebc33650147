"""Run a netx file in Lava's CPU simulator, ``Loihi2SimCfg(select_tag='fixed_pt')``.

Samples run back to back, one every T steps. netx's ``reset_interval=T`` gives every layer a
``LIFReset`` neuron that zeroes u and v at its own offset, so each layer starts every sample from
rest exactly when that sample's first input reaches it. Each Lava layer adds one step of latency,
so netx layer i (0-based) holds sample k's activity in steps [kT + i + c, kT + i + c + T): its
"window" (c = 1, or 0 when the input layer has its own neuron and the input enters its ``a_in``).
Inside the window the chip and the delay-free PyTorch model compute the same integers.
Lava is imported only in the worker process (``simulate.lava.worker``), started only when ``--backend lava`` asks.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
from typing import Callable, Optional

import numpy as np

from ...childproc import python_command
from ...engine.emulator import stream_step
from ...engine.trace import Trace
from ...errors import ConfigError, Stopped
from ...ir import DeployedNet
from . import procgroup

log = logging.getLogger(__name__)
W_SCALE_V = 4096.0  # Lava v (and SLAYER v_int) per unit of SLAYER float voltage: 64 (weights) x 64 (a_in << 6)


Interrupted = (
    Stopped  # SIGTERM during a Lava run: stopped and cleaned up like Ctrl-C, but exits 143
)
WORKER_SIGINT, WORKER_SIGTERM = 130, 143  # the worker's exit status when its group got the signal
NETX_LOADS = ("input", "conv", "dense", "flatten")  # lava-dl 0.6.0 netx refuses every other type
MAX_LAYERS = 64  # Lava runs a process per layer: a crafted file of hundreds would fork hundreds


def _chw(a: np.ndarray) -> np.ndarray:
    """Lava (W, H, C, ...) -> (C, H, W, ...)."""
    return a.transpose(2, 1, 0, *range(3, a.ndim)) if a.ndim >= 4 else a


def run_lava(
    path: str,
    net: DeployedNet,
    inputs: np.ndarray,
    record: tuple = (),
    on_sample: Optional[Callable[[int, int], None]] = None,
    timing: Optional[dict] = None,
) -> tuple[Trace, dict]:
    """``inputs``: (K, *input_shape, T) integers, run back to back. ``timing`` (``Options.lava_timing``):
    with ``stream`` each sample runs as one stream of its own, reset as netx's ``reset_interval`` /
    ``reset_offset`` say, and the arrays are in Lava's own time frame; with ``drive="bias"`` inputs are
    frames (K, *input_shape) set as the input neuron's bias for ``steps`` steps. Returns the window-aligned spikes
    of every layer but the last, the logits (the last layer's voltage at its window's end, / 4096),
    and when ``record`` asks the current / voltage of every layer; plus timing.

    Lava runs in a worker (``simulate.lava.worker``) that leads its own process group. Ctrl-C or SIGTERM here
    stops that whole group and frees its shared memory and temp folder before re-raising
    (``KeyboardInterrupt``; ``Interrupted`` for SIGTERM); the worker itself stops everything if this
    process dies; a run left by a killed process is cleaned up by the next one, and said so."""
    for layer in net.layers:
        if layer.kind not in NETX_LOADS:
            raise ConfigError(
                f"{path}: layer {layer.name} is a {layer.kind} layer, which Lava's netx cannot load "
                f"(it raises NotImplementedError); run it with --backend emulator"
            )
    if len(net.compute_layers) > MAX_LAYERS:
        raise ConfigError(
            f"{path}: {len(net.compute_layers)} layers, and Lava forks one process per layer (at most "
            f"{MAX_LAYERS} here); run it with --backend emulator, which computes the same integers"
        )
    timing = timing or {}
    t = int(timing["steps"]) if timing.get("drive") == "bias" else inputs.shape[-1]
    run_dir = procgroup.new_run_dir(path)
    job = dict(
        path=os.path.abspath(path),
        input_bits=net.input_bits,
        input_neuron=net.input_neuron,
        record=list(record),
        first_dense=net.compute_layers[0].kind == "dense" and len(net.input_shape) > 1,
        timing=timing,
    )
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise Interrupted()

    proc = None
    try:
        signal.signal(signal.SIGTERM, on_term)
        with open(os.path.join(run_dir, "job.json"), "w") as f:
            json.dump(job, f)
        np.save(os.path.join(run_dir, "inputs.npy"), np.ascontiguousarray(inputs))
        with open(os.path.join(run_dir, "worker.log"), "w") as log_file:
            proc = subprocess.Popen(
                python_command("tna_deploy.simulate.lava.worker", run_dir, str(os.getpid())),
                stdout=subprocess.PIPE,
                stderr=log_file,
                start_new_session=True,
                text=True,
                env=dict(os.environ, TMPDIR=procgroup.worker_tmpdir(run_dir)),
            )
        owner = procgroup.read_owner(run_dir)
        procgroup.write_owner(run_dir, dict(owner, pgid=proc.pid))
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "progress" and on_sample:
                on_sample(int(parts[1]), int(parts[2]))
        rc = proc.wait()
        if rc == WORKER_SIGINT:  # Ctrl-C or SIGINT sent to the worker's own group: as a Ctrl-C here
            raise KeyboardInterrupt()
        if rc == WORKER_SIGTERM:
            raise Interrupted()
        if rc != 0 or not os.path.isfile(os.path.join(run_dir, "raw.npz")):
            raise RuntimeError(_worker_error(run_dir, rc))
        with np.load(os.path.join(run_dir, "raw.npz"), allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except BaseException:
        if proc is not None:
            procgroup.stop_group(proc.pid)
            proc.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc is not None and proc.stdout:
            proc.stdout.close()
        procgroup.release(run_dir)
    return _assemble(raw, net, inputs.shape[0], t, record)


def _worker_error(run_dir: str, rc: int) -> str:
    if rc < 0:  # killed by a signal it cannot handle (SIGKILL, a crash)
        name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
        return f"the Lava worker was killed by {name} from outside; nothing was written"
    for name in ("error.txt", "worker.log"):
        try:
            with open(os.path.join(run_dir, name)) as f:
                lines = [line.strip() for line in f if line.strip()]
        except OSError:
            continue
        if lines:
            return lines[-1][:200]
    return f"the Lava worker exited with status {rc}"


def _assemble(
    raw: dict, net: DeployedNet, k_samples: int, t: int, record: tuple
) -> tuple[Trace, dict]:
    steps, seconds = int(raw["meta"][0]), float(raw["meta"][1])
    n_layers = len(net.compute_layers)
    info = dict(steps=steps, seconds=seconds, layer_table=str(raw["table"]))
    if "stream" in raw:  # (K, *WHC, N) per stream, already in Lava's own time frame
        per = lambda a: np.stack([_chw(v) for v in a])  # noqa: E731
        volts = raw[f"v{n_layers - 1}"].reshape(k_samples, -1, int(raw["stream"]))
        result = Trace(
            [per(raw[f"s{i}"]).astype(np.uint8) for i in range(n_layers - 1)],
            volts[..., -1].astype(np.float64) / W_SCALE_V,
            [per(raw[f"u{i}"]).astype(np.int32) for i in range(n_layers)]
            if "current" in record
            else None,
            [per(raw[f"v{i}"]).astype(np.int32) for i in range(n_layers)]
            if "voltage" in record
            else None,
        )
        return result, info

    def windows(a: np.ndarray, i: int) -> np.ndarray:  # a: (*WHC, steps) -> (K, *CHW, T)
        per = [a[..., stream_step(i, k, t, net.input_neuron) :][..., :t] for k in range(k_samples)]
        return np.stack([_chw(p) for p in per])

    spikes = [windows(raw[f"s{i}"], i).astype(np.uint8) for i in range(n_layers - 1)]
    state_of = {
        f: [windows(raw[f"{v}{i}"], i).astype(np.int32) for i in range(n_layers)]
        for v, f in (("u", "current"), ("v", "voltage"))
        if f in record
    }
    volts = raw[f"v{n_layers - 1}"].reshape(-1, steps)  # (n, steps)
    logits = np.stack(
        [
            volts[:, stream_step(n_layers - 1, k, t, net.input_neuron) + t - 1]
            for k in range(k_samples)
        ]
    )
    result = Trace(
        spikes,
        logits.astype(np.float64) / W_SCALE_V,
        state_of.get("current"),
        state_of.get("voltage"),
    )
    return result, info
