"""``worker.main()`` with argv RUN_DIR PARENT_PID: one Lava run, in its own process group.

``run.run_lava`` starts this isolated (``childproc.python_command``: never the working directory's
code) with ``start_new_session=True``; it reads ``job.json`` and ``inputs.npy`` from RUN_DIR, runs the
netx file in Lava's CPU simulator, prints ``progress k K`` per sample on stdout and writes ``raw.npz``
(each layer's spikes and the probed u / v, in Lava's (W, H, C, steps) layout) or ``error.txt``. A
watchdog thread kills the whole group, and frees its shared memory, the moment the tna-deploy process
that started it is gone (even after a SIGKILL of that process).
"""

from __future__ import annotations

import json
import multiprocessing.util
import os
import shutil
import signal
import sys
import threading
import time

import numpy as np

from .procgroup import RUN_MARK

_FINISHING = (
    threading.Lock()
)  # one thread finishes the worker: main, the parent watch or the signal watch
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the exit status each one gives


def _watch_parent(parent: int, run_dir: str) -> None:
    while os.getppid() == parent:
        time.sleep(0.25)
    _finish(run_dir, orphaned=True)


def _watch_signals(parent: int, run_dir: str) -> None:
    """SIGINT or SIGTERM sent to the worker's process group from outside. They are blocked in every
    thread (and in Lava's forks, which inherit the mask) and taken here, so they work whatever Lava's
    main thread is blocked in: the run stops, and the parent sees it as a Ctrl-C (130) or SIGTERM (143)."""
    sig = signal.sigwait(set(STOP_SIGNALS))
    name = signal.Signals(sig).name
    _finish(
        run_dir,
        orphaned=os.getppid() != parent,
        code=STOP_SIGNALS[sig],
        error=f"{name} reached the Lava worker's process group",
    )


def _stop_the_rest_of_the_group() -> set:
    """SIGKILL Lava's processes (this one's group, itself excepted) and wait until they are gone: they
    hold this worker's stdout (the parent would wait for them forever) and could still write into the
    run folders. Returns the shared-memory segments they had mapped."""
    from .procgroup import group_pids, mapped_shm

    group, me = os.getpgid(0), os.getpid()
    shm = mapped_shm(group_pids(group))
    for pid in [p for p in group_pids(group) if p != me]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    end = time.monotonic() + 5.0
    while [p for p in group_pids(group) if p != me] and time.monotonic() < end:
        time.sleep(0.05)
    return shm


def _finish(run_dir: str, orphaned: bool, code: int = 3, error: str = "") -> None:
    """End the worker, once, from whichever thread gets here first (the others wait to be killed): stop
    Lava's processes; when the parent is gone also free the shared memory and the run folders (nobody else
    will) and kill the group; else leave ``error.txt`` for the parent and exit with ``code``."""
    if not _FINISHING.acquire(blocking=False):
        while True:  # another thread is finishing and will end this process
            time.sleep(1)
    shm = _stop_the_rest_of_the_group()
    if orphaned:
        from .procgroup import remove_mp_tmp, unlink_shm

        unlink_shm(shm)
        remove_mp_tmp(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        os.killpg(os.getpgid(0), signal.SIGKILL)
    if error:
        with open(os.path.join(run_dir, "error.txt"), "w") as f:
            f.write(error[:300])
    sys.stdout.flush()
    os._exit(code)


def _whc(x_chw_t: np.ndarray) -> np.ndarray:
    """(C, H, W, T) -> Lava's (W, H, C, T); 2-D (F, T) inputs pass unchanged."""
    return x_chw_t.transpose(2, 1, 0, 3) if x_chw_t.ndim == 4 else x_chw_t


def run(run_dir: str) -> None:
    with open(os.path.join(run_dir, "job.json")) as f:
        job = json.load(f)
    inputs = np.load(os.path.join(run_dir, "inputs.npy"), allow_pickle=False)
    timing = job.get("timing") or {}
    if timing.get("stream"):
        arrays = _run_streams(run_dir, job, inputs, timing)
    else:
        arrays = _run_windows(run_dir, job, inputs, timing)
    tmp = os.path.join(run_dir, "raw.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, os.path.join(run_dir, "raw.npz"))


def _lava():
    from ...lava_import import quiet_import

    netx = quiet_import("lava.lib.dl.netx", "simulate --backend lava")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    return netx, RunSteps, Loihi2SimCfg(select_tag="fixed_pt")


class _Probes:
    """Every layer's output (but the last's) recorded step by step into .npy files, and the probed u / v
    (v of the last layer always: the logits)."""

    def __init__(self, run_dir: str, lava_net, record: list, steps: int, tag: str = ""):
        from lava.proc.monitor.process import Monitor

        from .procs.recorder import SpikeRecorder

        self.net, self.steps = lava_net, steps
        n_layers = len(lava_net.layers)
        self.paths = [os.path.join(run_dir, f"layer{i}{tag}.npy") for i in range(n_layers - 1)]
        for layer, path_i in zip(lava_net.layers[:-1], self.paths):
            layer.out.connect(SpikeRecorder(shape=layer.out.shape, path=path_i, steps=steps).a_in)
        self.monitors = {}
        for i, layer in enumerate(lava_net.layers):
            for var, field in (("u", "current"), ("v", "voltage")):
                if field in record or (var == "v" and i == n_layers - 1):
                    mon = Monitor()
                    mon.probe(getattr(layer.neuron, var), steps)
                    self.monitors[(i, var)] = (mon, layer.neuron)

    def collect(self) -> dict:
        """Call after the run, before ``stop``; the spike files are read (and removed) after it."""
        return {
            f"{var}{i}": np.moveaxis(mon.get_data()[neuron.name][var], 0, -1).reshape(
                self.net.layers[i].out.shape + (self.steps,)
            )
            for (i, var), (mon, neuron) in self.monitors.items()
        }

    def spikes(self) -> dict:
        out = {}
        for i, p in enumerate(self.paths):
            out[f"s{i}"] = np.load(p, allow_pickle=False)
            os.unlink(p)
        return out


def _note_shm(run_dir: str) -> None:
    """Lava's channels exist now: note them for whoever has to clean up."""
    from .procgroup import mapped_shm

    with open(os.path.join(run_dir, "shm.txt"), "w") as f:
        f.write("\n".join(sorted(mapped_shm([os.getpid()]))))


def _source(lava_net, job: dict, data: np.ndarray):
    """A RingBuffer of ``data`` (*input_shape, steps) into the network's input."""
    from lava.proc import io

    if job["first_dense"]:
        data = data.reshape(-1, data.shape[-1])  # torch flatten order (C, H, W)
    src = io.source.RingBuffer(data=_whc(data).astype(np.int32))
    src.s_out.connect(lava_net.layers[0].neuron.a_in if job["input_neuron"] else lava_net.inp)


def _run_windows(run_dir: str, job: dict, inputs: np.ndarray, timing: dict) -> dict:
    """Samples back to back, one every T steps, netx resetting each layer as its window starts."""
    netx, RunSteps, cfg = _lava()
    bias = timing.get("drive") == "bias"
    k_samples = inputs.shape[0]
    t = int(timing["steps"]) if bias else inputs.shape[-1]
    input_neuron = job["input_neuron"]
    lava_net = netx.hdf5.Network(
        net_config=job["path"],
        input_message_bits=job["input_bits"],
        reset_interval=t,
        reset_offset=0 if input_neuron else 1,
    )
    steps = k_samples * t + len(lava_net.layers) + 1
    if bias:
        lava_net.layers[0].neuron.bias_mant.init = _whc(inputs[0][..., None])[..., 0]
    else:
        stream = np.concatenate(list(inputs), axis=-1)  # (*input_shape, K*T)
        pad = np.zeros(stream.shape[:-1] + (steps - stream.shape[-1],), stream.dtype)
        _source(lava_net, job, np.concatenate([stream, pad], -1))
    probes = _Probes(run_dir, lava_net, job["record"], steps)
    t0 = time.perf_counter()
    try:
        done = 0
        for k in range(k_samples):
            if bias and k:
                lava_net.layers[0].neuron.bias_mant.set(_whc(inputs[k][..., None])[..., 0])
            lava_net.run(condition=RunSteps(num_steps=t), run_cfg=cfg)
            if k == 0:
                _note_shm(run_dir)
            done += t
            print(f"progress {k + 1} {k_samples}", flush=True)
        lava_net.run(condition=RunSteps(num_steps=steps - done), run_cfg=cfg)
        arrays = probes.collect()
    finally:
        lava_net.stop()
    arrays.update(probes.spikes())
    arrays["table"] = np.array(str(lava_net))
    arrays["meta"] = np.array([steps, time.perf_counter() - t0])
    return arrays


def _run_streams(run_dir: str, job: dict, inputs: np.ndarray, timing: dict) -> dict:
    """Each sample one stream from rest, in a network of its own, reset as netx is told (or never)."""
    netx, RunSteps, cfg = _lava()
    bias = timing.get("drive") == "bias"
    steps = int(timing["steps"]) if bias else inputs.shape[-1]
    per, seconds, table = [], 0.0, ""
    for j in range(inputs.shape[0]):
        lava_net = netx.hdf5.Network(
            net_config=job["path"],
            input_message_bits=job["input_bits"],
            reset_interval=timing.get("reset_interval"),
            reset_offset=int(timing.get("reset_offset") or 0),
        )
        if bias:
            lava_net.layers[0].neuron.bias_mant.init = _whc(inputs[j][..., None])[..., 0]
        else:
            _source(lava_net, job, inputs[j])
        probes = _Probes(run_dir, lava_net, job["record"], steps, tag=f"-{j}")
        t0 = time.perf_counter()
        try:
            lava_net.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            if j == 0:
                _note_shm(run_dir)
            arrays = probes.collect()
        finally:
            lava_net.stop()
        seconds += time.perf_counter() - t0
        arrays.update(probes.spikes())
        per.append(arrays)
        table = str(lava_net)
        print(f"progress {j + 1} {inputs.shape[0]}", flush=True)
    out = {key: np.stack([a[key] for a in per]) for key in per[0]}
    out["table"] = np.array(table)
    out["meta"] = np.array([steps * inputs.shape[0], seconds])
    out["stream"] = np.array(steps)
    return out


def main() -> None:
    run_dir = sys.argv[1]
    parent = int(sys.argv[2])
    # multiprocessing's resource tracker, started on Lava's first shared-memory segment, would unblock
    # SIGINT and SIGTERM in this thread as it starts (resource_tracker.ensure_running): start it first
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))  # taken by _watch_signals only
    mp_tmp = multiprocessing.util.get_temp_dir()  # created now, so that cleanup knows it
    with open(os.path.join(mp_tmp, RUN_MARK), "w") as f:  # and can prove it is this run's
        f.write(os.path.abspath(run_dir))
    with open(os.path.join(run_dir, "mp_tmp.txt"), "w") as f:
        f.write(mp_tmp)
    for watch in (_watch_parent, _watch_signals):
        threading.Thread(target=watch, args=(parent, run_dir), daemon=True).start()
    try:
        run(run_dir)
    except BaseException as e:  # the parent turns this into one line; the worker only reports
        reason = str(e).splitlines()[0][:200] if str(e) else ""
        _finish(run_dir, orphaned=os.getppid() != parent, error=f"{type(e).__name__}: {reason}")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: Lava's runtime is stopped, its forks are gone


if __name__ == "__main__":
    main()
