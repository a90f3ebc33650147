"""``simulate``: run a netx file on test samples in Lava, optionally beside the run's PyTorch model,
and write versioned JSON results plus raw per-layer spike counts (.npz) for the report stage."""
from __future__ import annotations

import logging
import os
from typing import Callable, Optional

import numpy as np
import torch

from .. import __version__
from ..config import TrainConfig
from ..data import encode, load_split
from ..errors import ConfigError, TnaError
from ..export.netx import NetxMeta, prepare_for_chip, read_meta
from ..atomic import atomic_path, write_json
from ..train.runs import load_run
from .compare import parity, spike_counts

log = logging.getLogger(__name__)
FORMAT = "tna-deploy-sim"
FORMAT_VERSION = 1
RESULTS = "results.json"
COUNTS = "counts.npz"
SPIKES = "spikes.npz"     # full rasters, for op counts: input (K, C, H, W, T), lava_L{i}/torch_L{i} (K, ..., T)


class SimulationError(TnaError):
    """The file could not be simulated."""


def load_samples(meta: NetxMeta, n: int, data_dir: Optional[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test samples of the file's dataset, encoded as the chip receives them."""
    cfg = TrainConfig(dataset=meta.dataset, data_dir=data_dir, timesteps=meta.timesteps, limit_test=n,
                      input_bits=meta.input_bits, dvs_size=int(meta.in_shape[1]), weights="fp")
    test = load_split(cfg, "test")
    if list(test.in_shape) != list(meta.in_shape):
        raise ConfigError(f"{meta.dataset} samples have shape {test.in_shape}, the network expects {meta.in_shape}")
    return encode(test.x, meta.timesteps, meta.input_bits, meta.event_data), test.y


def torch_reference(run_dir: str, meta: NetxMeta, x: torch.Tensor) -> tuple[list, np.ndarray]:
    """Spikes of every non-flatten block (K, ..., T) and logits of the run's base, as exported."""
    run = load_run(run_dir, with_twins=False)
    net, _ = prepare_for_chip(run)
    modes = [q.mode for info, q in zip(net.info, net.quantizers) if info.kind != "flatten"]
    if modes != [entry["mode"] for entry in meta.layers]:
        raise ConfigError(f"--run {run_dir} does not match the file: its layers compute in modes {modes}, "
                          f"the file's in {[entry['mode'] for entry in meta.layers]}; re-export the run")
    with torch.no_grad():
        logits, trace = net(x, return_trace=True)
    spikes = [t.numpy().astype(np.uint8) for info, t in zip(net.info, trace) if info.kind != "flatten"]
    return spikes[:-1], logits.numpy().astype(np.float64)


def simulate(path: str, samples: int, out_dir: str, backend: str = "lava", run_dir: Optional[str] = None,
             data_dir: Optional[str] = None, dataset: Optional[str] = None,
             on_sample: Optional[Callable[[int, int], None]] = None) -> dict:
    meta = read_meta(path)
    if dataset and dataset != meta.dataset:
        raise ConfigError(f"{path} was trained on {meta.dataset}, not {dataset}")
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    if backend != "lava":
        raise ConfigError(f"unknown backend {backend!r}: only 'lava' is available")
    if data_dir is None and run_dir:
        data_dir = load_run(run_dir, with_twins=False).cfg.data_dir
    x, y = load_samples(meta, samples, data_dir)
    from .lava_cpu import run_lava
    try:
        lava = run_lava(path, meta, x.numpy().astype(np.int32), on_sample=on_sample)
    except (OSError, KeyError, ValueError) as e:
        raise SimulationError(f"{path}: Lava could not run this file ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:120] if str(e) else ''}); re-export it") from None
    names = [entry["name"] for entry in meta.layers]
    labels = y.numpy()
    result = dict(format=FORMAT, format_version=FORMAT_VERSION, tna_deploy_version=__version__,
                  file=os.path.abspath(path), backend=backend, dataset=meta.dataset, samples=int(len(labels)),
                  timesteps=meta.timesteps, layers=names, labels=labels.tolist(),
                  lava=dict(predictions=lava.logits.argmax(1).tolist(),
                            accuracy=float((lava.logits.argmax(1) == labels).mean() * 100.0),
                            logits=lava.logits.tolist(), steps=lava.steps, seconds=round(lava.seconds, 3),
                            steps_per_second=round(lava.steps / lava.seconds, 2)))
    arrays = dict(labels=labels, lava_logits=lava.logits, lava_counts=spike_counts(lava.spikes))
    rasters = dict(input=x.numpy().astype(np.uint16), **{f"lava_L{i}": s for i, s in enumerate(lava.spikes)})
    if run_dir:
        t_spikes, t_logits = torch_reference(run_dir, meta, x)
        result["torch"] = dict(run=os.path.abspath(run_dir), predictions=t_logits.argmax(1).tolist(),
                               accuracy=float((t_logits.argmax(1) == labels).mean() * 100.0),
                               logits=t_logits.tolist())
        result["parity"] = parity(names[:-1], lava.spikes, t_spikes, lava.logits, t_logits)
        arrays.update(torch_logits=t_logits, torch_counts=spike_counts(t_spikes))
        rasters.update({f"torch_L{i}": s for i, s in enumerate(t_spikes)})
    os.makedirs(out_dir, exist_ok=True)
    for name, content in ((COUNTS, arrays), (SPIKES, rasters)):
        with atomic_path(os.path.join(out_dir, name)) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **content)
    write_json(os.path.join(out_dir, RESULTS), result)
    return result
