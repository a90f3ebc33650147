"""``simulate``: run a netx file (or a tna-deploy ONNX export) on test samples (or on raw input spikes) in
the emulator, Lava and / or onnxruntime, optionally beside the run's PyTorch model, chunk by chunk with
bounded memory, and write versioned JSON results plus per-sample counts (.npz) for the report stage."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Callable, Optional

import numpy as np

from .. import __version__
from ..atomic import OutputSet, check_writable, file_sha256
from ..errors import ConfigError, DataError, TnaError
from ..ir import DeployedNet, read_netx
from ..ir.onnx_model import is_onnx, read_onnx
from .compare import Parity

log = logging.getLogger(__name__)
FORMAT = "tna-deploy-sim"
FORMAT_VERSION = 3  # 3: the folder is an output set with a manifest (tna_deploy.atomic)
RESULTS = "results.json"
COUNTS = "counts.npz"  # labels; per backend B: B_logits (K, n), B_counts (K, L-1, T), B_synops (K, L, T); input_counts
SPIKES = "spikes.npz"  # --record spikes: input (K, *in, T) and B_L{i} (K, *shape, T) rasters
STATE = "state.npz"  # --record current,voltage: B_current_L{i}, B_voltage_L{i} (K, *shape, T) int32
RECORD_BUDGET = 4 << 30  # bytes a --record may keep in memory
CHUNK_BUDGET = 1 << 30  # bytes of neuron state per emulator chunk
ORDER = ("lava", "onnx", "emulator", "torch")  # agreement pairs name the earlier one first


class SimulationError(TnaError):
    """The file could not be simulated."""


@dataclasses.dataclass
class Inputs:
    """Where the samples come from: a dataset split (encoded per chunk) or a raw spike array."""

    n: int
    timesteps: int
    chunk: Callable[[int, int], np.ndarray]  # (start, stop) -> (k, *input_shape, T) integers
    labels: Optional[np.ndarray] = None
    dataset: Optional[str] = None
    source: Optional[str] = None


def dataset_inputs(
    net: DeployedNet, path: str, samples, data_dir: Optional[str], dataset: Optional[str]
) -> Inputs:
    """The first ``samples`` (an int or 'all') test samples of the file's dataset, encoded as the chip gets them."""
    import torch

    from ..data.datasets import load_split
    from ..data.encode import encode
    from ..train.config import TrainConfig

    meta = net.meta
    if not meta:
        raise ConfigError(
            f"{path} has no tna-deploy metadata, so its dataset and encoding are unknown; "
            f"give the input spikes with --input X.npy"
        )
    if dataset and dataset != meta["dataset"]:
        raise ConfigError(f"{path} was trained on {meta['dataset']}, not {dataset}")
    limit = None if samples == "all" else int(samples)
    cfg = TrainConfig(
        dataset=meta["dataset"],
        data_dir=data_dir,
        timesteps=int(meta["timesteps"]),
        limit_test=limit,
        input_bits=int(meta["input_bits"]),
        dvs_size=int(meta["in_shape"][1]),
        weights="fp",
    )
    test = load_split(cfg, "test")
    if list(test.in_shape) != list(meta["in_shape"]):
        raise ConfigError(
            f"{meta['dataset']} samples have shape {test.in_shape}, the network expects {meta['in_shape']}"
        )
    x = test.x

    def chunk(a: int, b: int) -> np.ndarray:
        with torch.no_grad():
            return (
                encode(x[a:b], cfg.timesteps, cfg.input_bits, test.event_data)
                .numpy()
                .astype(np.int32)
            )

    return Inputs(len(test), cfg.timesteps, chunk, test.y.numpy(), meta["dataset"])


def file_inputs(net: DeployedNet, input_path: str, samples) -> tuple[Inputs, DeployedNet]:
    """Raw input spikes from ``input_path``: (K, *input_shape, T) or (*input_shape, T) integers."""
    if not os.path.isfile(input_path):
        raise DataError(f"--input {input_path}: no such file")
    try:
        x = np.load(input_path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:
        raise DataError(
            f"--input {input_path}: not a readable .npy array ({str(e).splitlines()[0][:80]})"
        ) from None
    want = tuple(net.input_shape)
    if x.ndim == len(want) + 1:
        x = x[None]
    if x.ndim != len(want) + 2 or tuple(x.shape[1:-1]) != want:
        raise DataError(
            f"--input {input_path}: shape {x.shape}; the network takes (K, {', '.join(map(str, want))}, T) "
            f"or ({', '.join(map(str, want))}, T) integer spikes"
        )
    if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
        raise DataError(f"--input {input_path}: dtype {x.dtype}; give integer (or bool) spikes")
    if x.shape[-1] < 1 or x.shape[0] < 1:
        raise DataError(f"--input {input_path}: no samples or no timesteps in shape {x.shape}")
    lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
    if lo < -(1 << 23) or hi >= 1 << 23:
        raise DataError(
            f"--input {input_path}: values {lo}..{hi} exceed Loihi's 24-bit graded spikes"
        )
    n = x.shape[0] if samples == "all" else min(int(samples), x.shape[0])
    if not net.input_neuron and (
        lo < 0 or hi > 1
    ):  # graded values need message bits, as netx is told
        bits = max(net.input_bits, int(max(abs(lo), hi)).bit_length() + (lo < 0))
        net = dataclasses.replace(net, input_bits=min(bits, 24))
    return Inputs(
        n,
        int(x.shape[-1]),
        lambda a, b: np.asarray(x[a:b]).astype(np.int32),
        source=os.path.abspath(input_path),
    ), net


class TorchReference:
    """The run's PyTorch base as exported, run on chunks (spikes of every layer but the read-out, logits)."""

    def __init__(self, run_dir: str, net: DeployedNet):
        from ..export.netx import prepare_for_chip
        from ..train.runs import load_run

        run = load_run(run_dir, with_twins=False)
        self.net, _ = prepare_for_chip(run)
        modes = [
            q.mode for info, q in zip(self.net.info, self.net.quantizers) if info.kind != "flatten"
        ]
        want = [layer.mode for layer in net.compute_layers]
        if modes != want:
            raise ConfigError(
                f"--run {run_dir} does not match the file: its layers compute in modes {modes}, "
                f"the file's in {want}; re-export the run"
            )

    def __call__(self, x: np.ndarray) -> tuple[list, np.ndarray]:
        import torch

        with torch.no_grad():
            logits, trace = self.net(torch.from_numpy(x.astype(np.float32)), return_trace=True)
        spikes = [
            t.numpy().astype(np.uint8)
            for info, t in zip(self.net.info, trace)
            if info.kind != "flatten"
        ]
        return spikes[:-1], logits.numpy().astype(np.float64)


def torch_reference(ref: TorchReference, x: np.ndarray) -> tuple[list, np.ndarray]:
    """One chunk through the PyTorch model (a seam for tests)."""
    return ref(x)


def chunk_size(net: DeployedNet, timesteps: int, record: tuple) -> int:
    per_sample = (
        sum(layer.neurons for layer in net.compute_layers) * timesteps * (48 if record else 24)
    )
    return int(max(1, min(1000, CHUNK_BUDGET // max(per_sample, 1))))


class Collector:
    """Per-backend outputs over all chunks: logits, spike counts, synaptic ops, recorded state."""

    def __init__(self, net: DeployedNet, record: tuple):
        import torch

        from ..hardware.counts import fanout

        self.fanouts = [
            torch.from_numpy(fanout(layer).reshape(-1).astype(np.float64))
            for layer in net.compute_layers
            if layer.kind != "input"
        ]
        self.synapse_layers = [layer.kind != "input" for layer in net.compute_layers]
        self.record = record
        self.logits, self.counts, self.synops, self.rasters, self.state = [], [], [], [], {}
        self.seconds = 0.0

    def add(self, x: np.ndarray, result, seconds: float) -> None:
        import torch

        self.seconds += seconds
        self.logits.append(result.logits)
        spikes = result.spikes[: len(self.synapse_layers) - 1]
        k, t = len(x), x.shape[-1]
        counts, rows, fo = [], [], iter(self.fanouts)
        for i, (raster, has_synapse) in enumerate(zip([x] + spikes, self.synapse_layers)):
            r = torch.from_numpy(np.ascontiguousarray(raster)).reshape(k, -1, t)
            active = (
                (r != 0).to(torch.float32) if i == 0 else r.to(torch.float32)
            )  # spikes are 0/1 already
            if i:  # float32 counts and sums are exact below 2^24 (checked for the fan-outs)
                counts.append(active.sum(dim=1).round().to(torch.int64))
            if not has_synapse:
                rows.append(torch.zeros((k, t), dtype=torch.float64))
                continue
            f = next(fo)
            if float(f.sum()) >= 1 << 24:
                active = active.to(torch.float64)
            rows.append(torch.einsum("kjt,j->kt", active, f.to(active.dtype)).to(torch.float64))
        self.counts.append(
            torch.stack(counts, dim=1).numpy() if counts else np.zeros((k, 0, t), np.int64)
        )
        self.synops.append(torch.stack(rows, dim=1).round().to(torch.int64).numpy())
        if "spikes" in self.record:
            self.rasters.append(spikes)
        for name in ("current", "voltage"):
            if name in self.record:
                self.state.setdefault(name, []).append(getattr(result, name))

    def arrays(self, name: str) -> dict:
        out = {
            f"{name}_logits": np.concatenate(self.logits),
            f"{name}_counts": np.concatenate(self.counts),
            f"{name}_synops": np.concatenate(self.synops),
        }
        return out

    def raster_arrays(self, name: str) -> dict:
        if not self.rasters:
            return {}
        return {
            f"{name}_L{i}": np.concatenate([c[i] for c in self.rasters])
            for i in range(len(self.rasters[0]))
        }

    def state_arrays(self, name: str) -> dict:
        out = {}
        for field, chunks in self.state.items():
            for i in range(len(chunks[0])):
                out[f"{name}_{field}_L{i}"] = np.concatenate([c[i] for c in chunks])
        return out


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
    """Run ``samples`` (an int or 'all') through every backend in ``backends``; see the module doc."""
    if isinstance(backends, str):
        backends = (backends,)
    if samples != "all" and int(samples) < 1:
        raise ConfigError(f"--samples must be at least 1 or 'all', got {samples}")
    check_writable(out_dir)
    if "onnx" in backends and set(record) & {"current", "voltage"}:
        raise ConfigError(
            "--record current,voltage: the ONNX model outputs logits and spikes only; record them "
            "with --backend emulator"
        )
    onnx_bytes = None
    if is_onnx(path):
        if "lava" in backends:
            raise ConfigError(
                f"{path}: Lava runs netx files; simulate the netx file with --backend lava, "
                f"or this file with --backend onnx,emulator"
            )
        net, onnx_bytes = read_onnx(path)
    else:
        net = read_netx(path)
    if input_path:
        if run_dir:
            raise ConfigError(
                "--run compares with the PyTorch model on dataset samples; it does not take --input"
            )
        bits = net.input_bits
        inputs, net = file_inputs(net, input_path, samples)
        if onnx_bytes is not None and net.input_bits != bits:
            raise ConfigError(
                f"--input {input_path}: graded values, but {path} was exported for 0/1 input spikes; "
                f"simulate the netx file instead, which takes them"
            )
    else:
        if data_dir is None and run_dir:
            from ..train.runs import load_run

            data_dir = load_run(run_dir, with_twins=False).cfg.data_dir
        inputs = dataset_inputs(net, path, samples, data_dir, dataset)
    n, t = inputs.n, inputs.timesteps
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
    ref = TorchReference(run_dir, net) if run_dir else None
    names = [layer.name for layer in net.compute_layers]
    collect = {b: Collector(net, record) for b in backends}
    lava_result = None
    if (
        "lava" in backends
    ):  # Lava runs every sample in one back-to-back stream; chunks slice it below
        lava_result, lava_info = _run_lava(
            path, net, inputs, record, on_progress if len(backends) == 1 else None
        )
    from .emulator import Emulator

    runners = {}
    if "emulator" in backends:
        runners["emulator"] = Emulator(net)
    if "onnx" in backends:
        from .onnx_backend import OnnxRunner

        runners["onnx"] = OnnxRunner(net, onnx_bytes)
    chip = backends[0]
    parity = Parity(names[:-1], chip, "torch") if ref else None
    reference = "emulator" if "emulator" in backends else backends[-1]
    agreements = [
        Parity(names[:-1], b, reference)
        for b in sorted(backends, key=ORDER.index)
        if b != reference
    ]
    torch_c = Collector(net, record) if ref else None
    size = chunk or chunk_size(net, t, record)
    input_counts, input_max = [], 0
    for a in range(0, n, size):
        b = min(n, a + size)
        x = inputs.chunk(a, b)
        got = {}
        if lava_result is not None:
            got["lava"] = _slice(lava_result, a, b)
            collect["lava"].add(x, got["lava"], 0.0)
        for name, runner in runners.items():
            t0 = time.perf_counter()
            got[name] = (
                runner.run(x, record=("spikes",) + tuple(record))
                if name == "emulator"
                else runner.run(x)
            )
            collect[name].add(x, got[name], time.perf_counter() - t0)
        input_counts.append((x.reshape(len(x), -1, t) != 0).sum(axis=1))
        input_max = max(input_max, int(np.abs(x).max()) if x.size else 0)
        for g in agreements:
            g.update(
                a,
                got[g.a].spikes[: len(names) - 1],
                got[g.b].spikes[: len(names) - 1],
                got[g.a].logits,
                got[g.b].logits,
            )
        if ref:
            t_spikes, t_logits = torch_reference(ref, x)
            chip_spikes = got[chip].spikes[: len(names) - 1]
            parity.update(a, chip_spikes, t_spikes, got[chip].logits, t_logits)
            torch_c.add(x, _Plain(t_spikes, t_logits), 0.0)
        if on_progress and (runners or len(backends) > 1):
            on_progress(b, n)
    if lava_result is not None:
        collect["lava"].seconds = lava_info["seconds"]
    result = _results(
        path,
        net,
        inputs,
        backends,
        collect,
        names,
        parity,
        agreements,
        torch_c,
        lava_info if lava_result is not None else None,
        run_dir,
    )
    result["input_max"] = input_max  # above 1: graded input, so the first layer does MACs
    extra = dict(input_counts=np.concatenate(input_counts))
    _write(out_dir, inputs, collect, torch_c, record, result, extra)
    return result


@dataclasses.dataclass
class _Plain:
    spikes: list
    logits: np.ndarray
    current: Optional[list] = None
    voltage: Optional[list] = None


def _slice(res, a: int, b: int):
    cut = lambda arrays: None if arrays is None else [v[a:b] for v in arrays]  # noqa: E731
    return _Plain(cut(res.spikes), res.logits[a:b], cut(res.current), cut(res.voltage))


def _run_lava(path: str, net: DeployedNet, inputs: Inputs, record: tuple, on_progress):
    from .lava_cpu import run_lava

    x = inputs.chunk(0, inputs.n)
    try:
        return run_lava(path, net, x, record=record, on_sample=on_progress)
    except (OSError, KeyError, ValueError, RuntimeError, AssertionError) as e:
        raise SimulationError(
            f"{path}: Lava could not run this file ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:120] if str(e) else ''})"
        ) from None


def _summary(logits: np.ndarray, labels: Optional[np.ndarray], seconds: float, n: int) -> dict:
    pred = logits.argmax(1)
    out = dict(
        predictions=pred.tolist(),
        seconds=round(seconds, 3),
        samples_per_second=round(n / seconds, 2) if seconds > 0 else None,
    )
    if labels is not None:
        out["accuracy"] = float((pred == labels).mean() * 100.0)
    return out


def _results(
    path, net, inputs, backends, collect, names, parity, agreements, torch_c, lava_info, run_dir
) -> dict:
    n = inputs.n
    result = dict(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        tna_deploy_version=__version__,
        file=os.path.abspath(path),
        file_sha256=file_sha256(path),
        dataset=inputs.dataset,
        input=inputs.source,
        samples=n,
        timesteps=inputs.timesteps,
        input_bits=net.input_bits,
        layers=names,
        chip=backends[0],
        backends=list(backends),
        labels=inputs.labels.tolist() if inputs.labels is not None else None,
    )
    for b in backends:
        result[b] = _summary(
            np.concatenate(collect[b].logits), inputs.labels, collect[b].seconds, n
        )
    if lava_info:
        result["lava"].update(
            steps=lava_info["steps"],
            steps_per_second=round(lava_info["steps"] / lava_info["seconds"], 2),
        )
    if torch_c:
        result["torch"] = dict(
            run=os.path.abspath(run_dir),
            **_summary(np.concatenate(torch_c.logits), inputs.labels, 0.0, n),
        )
        result["parity"] = parity.result()
    if agreements:  # every other backend against the reference (the emulator when it ran)
        result["agreements"] = [g.result() for g in agreements]
        result["agreement"] = result["agreements"][0]
    return result


def _write(
    out_dir: str, inputs: Inputs, collect: dict, torch_c, record: tuple, result: dict, extra: dict
) -> None:
    """The output set (results.json, counts.npz, the recorded .npz), complete with its manifest or not at all.
    If ``out_dir`` cannot take it (a full disk, a folder made read-only meanwhile), the set goes to a new
    temp folder instead and the error says where, so a long run is never thrown away."""
    arrays = dict(extra)
    if inputs.labels is not None:
        arrays["labels"] = inputs.labels
    for b, c in collect.items():
        arrays.update(c.arrays(b))
    if torch_c:
        arrays.update(torch_c.arrays("torch"))
    files = [(COUNTS, arrays)]
    if "spikes" in record:
        rasters = {"input": inputs.chunk(0, inputs.n)}
        for b, c in collect.items():
            rasters.update(c.raster_arrays(b))
        if torch_c:
            rasters.update(torch_c.raster_arrays("torch"))
        files.append((SPIKES, rasters))
    if set(record) & {"current", "voltage"}:
        files.append(
            (STATE, {k: v for b, c in collect.items() for k, v in c.state_arrays(b).items()})
        )
    try:
        _write_set(out_dir, files, result)
    except OSError as e:
        import tempfile

        rescue = tempfile.mkdtemp(prefix="tna-sim-")
        try:
            _write_set(rescue, files, result)
        except OSError:
            raise SimulationError(
                f"--out {out_dir}: could not write the results ({e.strerror or e}), nor to "
                f"{rescue}; free some space and re-run"
            ) from None
        raise SimulationError(
            f"--out {out_dir}: could not write the results ({e.strerror or e}); they are "
            f"complete in {rescue}: move that folder where you want it"
        ) from None


def _write_set(folder: str, files: list, result: dict) -> None:
    out = OutputSet(folder, "simulate")
    for name, content in files:
        out.write(name, lambda f, c=content: np.savez_compressed(f, **c))
    out.write(
        RESULTS, lambda f: f.write((json.dumps(result, indent=2, sort_keys=True) + "\n").encode())
    )
    out.close()
