"""Benchmark: samples per second of Lava's CPU simulator and of tna-deploy's emulator, on the same
netx file and samples, in one run; then the whole test split in the emulator with PyTorch parity.

Also: float32 vs float64 conv / matmul inside the emulator (float32 is used only where every sum
is provably below 2^24, so both are exact; the figure says what the choice buys), and the
dense-compute bound: the network's dense synaptic ops (every MAC of every conv and dense layer at
every timestep) at the machine's measured float32 conv2d throughput, i.e. the time a dense
implementation needs for the arithmetic alone. Writes benchmarks/results/emulator_speed.json.

    .venv/bin/python benchmarks/emulator_speed.py export/demo.net --run runs/demo --lava-samples 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch


def conv_throughput(net) -> float:
    """MACs per second of float32 conv2d / matmul on the network's own layer shapes (batch 64, T folded in)."""
    import torch.nn.functional as F

    macs, seconds = 0.0, 0.0
    for layer in net.compute_layers:
        if layer.kind == "conv":
            x = torch.rand(64 * 5, *layer.in_shape).round()
            w = torch.from_numpy(layer.weight.astype(np.float32))
            run = lambda x=x, w=w, layer=layer: F.conv2d(  # noqa: E731
                x,
                w,
                stride=layer.stride,
                padding=layer.padding,
                groups=layer.groups,
            )
            n = 64 * 5 * layer.neurons * int(np.prod(layer.weight.shape[1:]))
        elif layer.kind == "dense":
            x = torch.rand(64 * 5, layer.inputs).round()
            w = torch.from_numpy(layer.weight.astype(np.float32))
            run = lambda x=x, w=w: x @ w.t()  # noqa: E731
            n = 64 * 5 * layer.weight.size
        else:
            continue
        run()
        t0 = time.perf_counter()
        for _ in range(3):
            run()
        seconds += (time.perf_counter() - t0) / 3
        macs += n
    return macs / seconds


def dense_macs_per_sample(net, timesteps: int) -> float:
    from tna_deploy.hardware.counts import ann_macs

    return float(
        sum(ann_macs(layer) for layer in net.compute_layers if layer.kind != "input") * timesteps
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("netx")
    ap.add_argument("--run", required=True)
    ap.add_argument("--lava-samples", type=int, default=20)
    ap.add_argument("--f64-samples", type=int, default=1000)
    ap.add_argument("--out", default="benchmarks/results/emulator_speed.json")
    args = ap.parse_args()

    import tna_deploy.engine.emulator as emu
    import tna_deploy.engine.numeric as numeric
    from tna_deploy.atomic import write_json
    from tna_deploy.ir import read_netx
    from tna_deploy.memory import keep_freed_pages
    from tna_deploy.simulate.run import dataset_inputs, simulate

    keep_freed_pages()  # as `tna-deploy simulate` runs: each chunk reuses freed pages
    net = read_netx(args.netx)
    t = net.timesteps
    tmp = tempfile.mkdtemp(prefix="tna-bench-")
    k = args.lava_samples
    t0 = time.perf_counter()
    both = simulate(args.netx, k, os.path.join(tmp, "lava"), backends=("lava", "emulator"))
    lava_wall = time.perf_counter() - t0
    assert both["agreement"]["spikes_equal"] and both["agreement"]["logits_equal"], (
        "emulator != Lava"
    )
    lava_s, emu_small_s = both["lava"]["seconds"], both["emulator"]["seconds"]

    t0 = time.perf_counter()
    full = simulate(args.netx, "all", os.path.join(tmp, "all"), run_dir=args.run)
    full_wall = time.perf_counter() - t0
    n = full["samples"]
    emu_s = full["emulator"]["seconds"]

    inputs = dataset_inputs(net, args.netx, args.f64_samples, None, None)
    x = inputs.chunk(0, inputs.n)
    timings = {}
    for name, limit in (("float32_where_exact", numeric.F32_EXACT), ("float64_always", 0)):
        numeric.F32_EXACT = limit
        e = emu.Emulator(net)
        t0 = time.perf_counter()
        for a in range(0, len(x), 250):
            e.run(x[a : a + 250])
        timings[name] = round(len(x) / (time.perf_counter() - t0), 1)
    numeric.F32_EXACT = 1 << 24

    macs = dense_macs_per_sample(net, t)
    thr = conv_throughput(net)
    bound_s = macs * n / thr
    lava_rate = k / lava_s
    emu_rate = n / emu_s
    result = dict(
        file=args.netx,
        run=args.run,
        timesteps=t,
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        lava=dict(
            samples=k,
            seconds=round(lava_s, 2),
            wall_seconds_with_compile=round(lava_wall, 2),
            samples_per_second=round(lava_rate, 3),
            emulator_equal_spike_for_spike=True,
            emulator_seconds_same_samples=round(emu_small_s, 3),
        ),
        emulator_whole_test_set=dict(
            samples=n,
            emulator_seconds=round(emu_s, 2),
            samples_per_second=round(emu_rate, 1),
            wall_seconds_with_data_pytorch_and_parity=round(full_wall, 2),
            parity_spikes_equal=full["parity"]["spikes_equal"],
            parity_logits_equal=full["parity"]["logits_equal"],
            prediction_agreement_pct=full["parity"]["prediction_agreement_pct"],
            accuracy=full["emulator"]["accuracy"],
        ),
        speedup_vs_lava=round(emu_rate / lava_rate, 1),
        conv_dtype_samples_per_second=dict(samples=len(x), **timings),
        dense_compute_bound=dict(
            dense_macs_per_sample=macs,
            measured_float32_macs_per_second=round(thr),
            seconds_for_the_test_set=round(bound_s, 2),
            emulator_over_bound=round(emu_s / bound_s, 2),
        ),
    )
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
