"""Run a tna-deploy netx file in Lava's CPU simulator, ``Loihi2SimCfg(select_tag='fixed_pt')``.

Samples run back to back, one every T steps. netx's ``reset_interval=T`` gives every layer a
``LIFReset`` neuron that zeroes u and v at its own offset, so each layer starts every sample from
rest exactly when that sample's first input reaches it. Each Lava layer adds one step of latency,
so netx layer i (0-based) holds sample k's activity in steps [kT + i + 1, kT + i + 1 + T): its
"window". Inside the window the chip and the delay-free PyTorch model compute the same integers.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..export.netx import NetxMeta, release_netx
from ..lava_import import quiet_import

log = logging.getLogger(__name__)
W_SCALE_V = 4096.0   # Lava v (and SLAYER v_int) per unit of SLAYER float voltage: 64 (weights) x 64 (a_in << 6)


@dataclass
class LavaResult:
    spikes: list            # per netx layer: uint8 (K, *shape_CHW, T) spikes inside each sample's window
    logits: np.ndarray      # (K, classes): read-out voltage at the last window step, in SLAYER units
    steps: int
    seconds: float
    layer_table: str


def window_start(layer: int, sample: int, timesteps: int) -> int:
    """First sink column of ``sample``'s window in netx ``layer`` (no input-neuron layer: c = 1)."""
    return sample * timesteps + layer + 1


def _whc(x_chw_t: np.ndarray) -> np.ndarray:
    """(C, H, W, T) -> Lava's (W, H, C, T); 2-D (F, T) inputs pass unchanged."""
    return x_chw_t.transpose(2, 1, 0, 3) if x_chw_t.ndim == 4 else x_chw_t


def _chw(a: np.ndarray) -> np.ndarray:
    """Lava (W, H, C, ...) -> (C, H, W, ...)."""
    return a.transpose(2, 1, 0, *range(3, a.ndim)) if a.ndim >= 4 else a


def run_lava(path: str, meta: NetxMeta, inputs: np.ndarray,
             on_sample: Optional[Callable[[int, int], None]] = None) -> LavaResult:
    """``inputs``: encoded graded spikes (K, C, H, W, T) integers. Lava is always stopped afterwards."""
    import time
    netx = quiet_import("lava.lib.dl.netx")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io
    from lava.proc.monitor.process import Monitor

    k_samples, t = inputs.shape[0], meta.timesteps
    first_dense = meta.layers[0]["kind"] in ("dense", "output")
    net = netx.hdf5.Network(net_config=path, input_message_bits=meta.input_bits, reset_interval=t, reset_offset=1)
    n_layers = len(net.layers)
    steps = k_samples * t + n_layers + 1
    stream = np.concatenate([x for x in inputs], axis=-1)           # (C, H, W, K*T)
    stream = np.concatenate([stream, np.zeros(stream.shape[:-1] + (steps - stream.shape[-1],), stream.dtype)], -1)
    if first_dense:
        stream = stream.reshape(-1, steps)                           # torch flatten order (C, H, W)
    data = _whc(stream).astype(np.int32)
    src = io.source.RingBuffer(data=data)
    src.s_out.connect(net.inp)
    from .recorder import SpikeRecorder
    tmp = tempfile.mkdtemp(prefix="tna-lava-")
    paths = [os.path.join(tmp, f"layer{i}.npy") for i in range(n_layers - 1)]
    for layer, path_i in zip(net.layers[:-1], paths):
        rec = SpikeRecorder(shape=layer.out.shape, path=path_i, steps=steps)
        layer.out.connect(rec.a_in)
    mon = Monitor()
    mon.probe(net.layers[-1].neuron.v, steps)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    t0 = time.perf_counter()
    try:
        done = 0
        for k in range(k_samples):
            net.run(condition=RunSteps(num_steps=t), run_cfg=cfg)
            done += t
            if on_sample:
                on_sample(k + 1, k_samples)
        net.run(condition=RunSteps(num_steps=steps - done), run_cfg=cfg)
        volts = mon.get_data()[net.layers[-1].neuron.name]["v"]     # (steps, classes)
    finally:
        net.stop()
    try:
        raw = [np.load(p) for p in paths]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - t0
    table = str(net)
    spikes = []
    for i, r in enumerate(raw):
        per = [r[..., window_start(i, k, t):window_start(i, k, t) + t] for k in range(k_samples)]
        spikes.append(np.stack([_chw(p) for p in per]).astype(np.uint8))
    last = n_layers - 1
    logits = np.stack([volts[window_start(last, k, t) + t - 1] for k in range(k_samples)]) / W_SCALE_V
    release_netx(net)
    return LavaResult(spikes, logits.astype(np.float64), steps, seconds, table)
