"""Run a tna-deploy netx file in Lava's CPU simulator, ``Loihi2SimCfg(select_tag='fixed_pt')``.

Samples run back to back, one every T steps. netx's ``reset_interval=T`` gives every layer a
``LIFReset`` neuron that zeroes u and v at its own offset, so each layer starts every sample from
rest exactly when that sample's first input reaches it. Each Lava layer adds one step of latency,
so netx layer i (0-based) holds sample k's activity in steps [kT + i + c, kT + i + c + T): its
"window" (c = 1, or 0 when the input layer has its own neuron and the input enters its ``a_in``).
Inside the window the chip and the delay-free PyTorch model compute the same integers.
Lava is imported here only, and this module only when ``--backend lava`` asks for it.
"""
from __future__ import annotations

import logging
import os
import time
import shutil
import tempfile
from typing import Callable, Optional

import numpy as np

from ..export.netx import release_netx
from ..ir import DeployedNet
from ..lava_import import quiet_import
from .emulator import EmulatorResult, stream_step

log = logging.getLogger(__name__)
W_SCALE_V = 4096.0   # Lava v (and SLAYER v_int) per unit of SLAYER float voltage: 64 (weights) x 64 (a_in << 6)


def _whc(x_chw_t: np.ndarray) -> np.ndarray:
    """(C, H, W, T) -> Lava's (W, H, C, T); 2-D (F, T) inputs pass unchanged."""
    return x_chw_t.transpose(2, 1, 0, 3) if x_chw_t.ndim == 4 else x_chw_t


def _chw(a: np.ndarray) -> np.ndarray:
    """Lava (W, H, C, ...) -> (C, H, W, ...)."""
    return a.transpose(2, 1, 0, *range(3, a.ndim)) if a.ndim >= 4 else a


def run_lava(path: str, net: DeployedNet, inputs: np.ndarray, record: tuple = (),
             on_sample: Optional[Callable[[int, int], None]] = None) -> tuple[EmulatorResult, dict]:
    """``inputs``: (K, *input_shape, T) integers, run back to back. Returns the window-aligned spikes
    of every layer but the last, the logits (the last layer's voltage at its window's end, / 4096),
    and when ``record`` asks the current / voltage of every layer; plus timing. Lava is stopped after."""
    netx = quiet_import("lava.lib.dl.netx")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io
    from lava.proc.monitor.process import Monitor

    from .lavaproc.recorder import SpikeRecorder

    k_samples, t = inputs.shape[0], inputs.shape[-1]
    first_dense = net.compute_layers[0].kind == "dense" and len(net.input_shape) > 1
    lava_net = netx.hdf5.Network(net_config=path, input_message_bits=net.input_bits, reset_interval=t,
                                 reset_offset=0 if net.input_neuron else 1)
    n_layers = len(lava_net.layers)
    steps = k_samples * t + n_layers + 1
    stream = np.concatenate(list(inputs), axis=-1)                      # (*input_shape, K*T)
    stream = np.concatenate([stream, np.zeros(stream.shape[:-1] + (steps - stream.shape[-1],), stream.dtype)], -1)
    if first_dense:
        stream = stream.reshape(-1, steps)                               # torch flatten order (C, H, W)
    src = io.source.RingBuffer(data=_whc(stream).astype(np.int32))
    src.s_out.connect(lava_net.layers[0].neuron.a_in if net.input_neuron else lava_net.inp)
    tmp = tempfile.mkdtemp(prefix="tna-lava-")
    paths = [os.path.join(tmp, f"layer{i}.npy") for i in range(n_layers - 1)]
    for layer, path_i in zip(lava_net.layers[:-1], paths):
        layer.out.connect(SpikeRecorder(shape=layer.out.shape, path=path_i, steps=steps).a_in)
    state = [("u", "current"), ("v", "voltage")]
    monitors = {}
    for i, layer in enumerate(lava_net.layers):
        for var, field in state:
            if field in record or (var == "v" and i == n_layers - 1):
                mon = Monitor()
                mon.probe(getattr(layer.neuron, var), steps)
                monitors[(i, var)] = (mon, layer.neuron)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    t0 = time.perf_counter()
    try:
        done = 0
        for k in range(k_samples):
            lava_net.run(condition=RunSteps(num_steps=t), run_cfg=cfg)
            done += t
            if on_sample:
                on_sample(k + 1, k_samples)
        lava_net.run(condition=RunSteps(num_steps=steps - done), run_cfg=cfg)
        traces = {key: mon.get_data()[neuron.name][key[1]] for key, (mon, neuron) in monitors.items()}
    finally:
        lava_net.stop()
    try:
        raw = [np.load(p) for p in paths]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - t0
    table = str(lava_net)
    release_netx(lava_net)

    def windows(a: np.ndarray, i: int) -> np.ndarray:      # a: (*WHC, steps) -> (K, *CHW, T)
        per = [a[..., stream_step(i, k, t, net.input_neuron):][..., :t] for k in range(k_samples)]
        return np.stack([_chw(p) for p in per])

    spikes = [windows(r, i).astype(np.uint8) for i, r in enumerate(raw)]
    state_of = {f: [windows(np.moveaxis(traces[(i, v)], 0, -1).reshape(lava_net.layers[i].out.shape + (steps,)), i)
                    .astype(np.int32) for i in range(n_layers)] for v, f in state if f in record}
    volts = traces[(n_layers - 1, "v")]                                  # (steps, n)
    logits = np.stack([volts[stream_step(n_layers - 1, k, t, net.input_neuron) + t - 1] for k in range(k_samples)])
    result = EmulatorResult(spikes, logits.astype(np.float64) / W_SCALE_V, state_of.get("current"),
                            state_of.get("voltage"))
    return result, dict(steps=steps, seconds=seconds, layer_table=table)
