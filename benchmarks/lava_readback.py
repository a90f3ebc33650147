"""Benchmark: reading every layer's spikes back from Lava's CPU simulator.

Stock: an ``io.sink.RingBuffer`` per layer, read with ``.data.get()`` after the run.
Ours:  ``tna_deploy.simulate.recorder.SpikeRecorder``, a memory-mapped file per layer.
Same network (a netx file exported by tna-deploy), same samples, same run, one after the other;
the figure to quote is the ratio. Writes benchmarks/results/lava_readback.json.

    .venv/bin/python benchmarks/lava_readback.py export/demo.net --samples 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time

import numpy as np


def run(path: str, samples: int, stock: bool) -> tuple[float, float, list]:
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    from tna_deploy.ir import read_netx
    from tna_deploy.simulate.lava.procs.recorder import SpikeRecorder
    from tna_deploy.simulate.run import dataset_inputs

    ir = read_netx(path)
    x = dataset_inputs(ir, path, samples, None, None).chunk(0, samples)
    t = ir.timesteps
    net = netx.hdf5.Network(
        net_config=path, input_message_bits=ir.input_bits, reset_interval=t, reset_offset=1
    )
    steps = samples * t + len(net.layers) + 1
    stream = np.concatenate(list(x), axis=-1)
    stream = np.concatenate([stream, np.zeros(stream.shape[:-1] + (steps - stream.shape[-1],))], -1)
    src = io.source.RingBuffer(data=stream.transpose(2, 1, 0, 3).astype(np.int32))
    src.s_out.connect(net.inp)
    tmp = tempfile.mkdtemp()
    sinks, paths = [], []
    for i, layer in enumerate(net.layers[:-1]):
        if stock:
            sink = io.sink.RingBuffer(shape=layer.out.shape, buffer=steps)
            layer.out.connect(sink.a_in)
            sinks.append(sink)
        else:
            paths.append(os.path.join(tmp, f"{i}.npy"))
            rec = SpikeRecorder(shape=layer.out.shape, path=paths[-1], steps=steps)
            layer.out.connect(rec.a_in)
    t0 = time.perf_counter()
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        t_run = time.perf_counter() - t0
        data = [s.data.get() for s in sinks]
    finally:
        net.stop()
    data = data or [np.load(p) for p in paths]
    t_total = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    return t_run, t_total - t_run, [int((d != 0).sum()) for d in data]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results", "lava_readback.json")
    )
    a = ap.parse_args()
    stock_run, stock_read, stock_counts = run(a.file, a.samples, stock=True)
    ours_run, ours_read, ours_counts = run(a.file, a.samples, stock=False)
    assert stock_counts == ours_counts, "the two read-backs disagree"
    res = dict(
        file=a.file,
        samples=a.samples,
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        python=platform.python_version(),
        stock_ringbuffer=dict(run_s=round(stock_run, 2), readback_s=round(stock_read, 2)),
        spike_recorder=dict(run_s=round(ours_run, 2), readback_s=round(ours_read, 2)),
        total_speedup=round((stock_run + stock_read) / (ours_run + ours_read), 1),
        readback_speedup=round(stock_read / max(ours_read, 1e-3), 1),
        spikes_recorded=sum(ours_counts),
    )
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
