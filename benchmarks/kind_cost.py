"""Benchmark: the emulator's cost per synaptic op of every layer and neuron kind beside CUBA's, in one run.

Each kind runs in a small network of the same size as its CUBA counterpart (a dense kind beside a
CUBA dense layer of the same weights' shape, a spatial kind beside a CUBA conv), on the same random
0/1 input (30 % active), and the time of the whole emulator run is divided by the effective synaptic
ops ``simulate`` counts for it (nonzero input x nonzero weight pairs, graded spikes counting once).
Issue 18 asks every kind to stay within 2x of CUBA's cost per synaptic op. Writes
benchmarks/results/kind_cost.json.

    .venv/bin/python benchmarks/kind_cost.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from tna_deploy.engine.emulator import Emulator, Stream
from tna_deploy.ir import DeployedNet, Layer, Neuron
from tna_deploy.ir.neurons import RFNeuron, SigmaDeltaNeuron
from tna_deploy.simulate.collect import Collector

OUT = os.path.join(os.path.dirname(__file__), "results", "kind_cost.json")
N_IN, N_OUT, T, K = 1024, 256, 32, 8
CUBA = Neuron(threshold=60, current_decay=1024, voltage_decay=512)


def _dense_nets(rng) -> dict:
    w = rng.integers(-60, 61, (N_OUT, N_IN))
    w2 = rng.integers(-60, 61, (N_OUT, N_IN))
    inp = Layer("input", 0, (N_IN,), (N_IN,))
    cuba = DeployedNet([inp, Layer("dense", 1, (N_IN,), (N_OUT,), CUBA, w)], (N_IN,))
    sdnn_in = SigmaDeltaNeuron("delta", threshold=0)
    sdnn = DeployedNet(
        [
            Layer("input", 0, (N_IN,), (N_IN,), neuron=sdnn_in),
            Layer("dense", 1, (N_IN,), (N_OUT,), SigmaDeltaNeuron("sigma_delta", threshold=20), w),
        ],
        (N_IN,),
    )
    rec = DeployedNet(
        [
            inp,
            Layer(
                "dense_rec",
                1,
                (N_IN,),
                (N_OUT,),
                CUBA,
                w,
                weight_rec=rng.integers(-60, 61, (N_OUT, N_OUT)),
            ),
        ],
        (N_IN,),
    )
    rf = DeployedNet(
        [
            inp,
            Layer(
                "dense_comp",
                1,
                (N_IN,),
                (N_OUT,),
                RFNeuron(40, 300, 4000, "RF_IZ"),
                w,
                weight_imag=w2,
            ),
        ],
        (N_IN,),
    )
    return {
        "dense CUBA": (cuba, None),
        "dense SDNN": (sdnn, Stream(None)),
        "dense_rec CUBA": (rec, None),
        "dense_comp RF_IZ": (rf, Stream(None)),
    }


def _spatial_nets(rng) -> dict:
    c, h, w = 8, 32, 32
    shape = (c, h, w)
    inp = Layer("input", 0, shape, shape)
    conv_w = rng.integers(-20, 21, (c, 1, 3, 3))
    conv = Layer(
        "conv", 1, shape, (c, 16, 16), CUBA, conv_w, stride=(2, 2), padding=(1, 1), groups=c
    )
    pool = Layer("pool", 1, shape, (c, 16, 16), CUBA, np.full((1, 1, 2, 2), 64), stride=(2, 2))
    unpool = Layer("unpool", 1, shape, (c, 64, 64), CUBA, np.full((1, 1, 2, 2), 64), stride=(2, 2))
    convt = Layer(
        "convT",
        1,
        shape,
        (c, 64, 64),
        CUBA,
        rng.integers(-20, 21, (c, 1, 2, 2)),
        stride=(2, 2),
        groups=c,
    )
    return {
        k: (DeployedNet([inp, lay], shape), None)
        for k, lay in (
            ("conv CUBA", conv),
            ("pool CUBA", pool),
            ("unpool CUBA", unpool),
            ("convT CUBA", convt),
        )
    }


def timed(em: Emulator, x: np.ndarray) -> float:
    em.reset()
    t0 = time.perf_counter()
    em.run(x)
    return time.perf_counter() - t0


def costs(cases: dict, repeats: int) -> dict:
    """Per case (net, stream, x): seconds per run (best of ``repeats``, the cases taken in turn within
    each repeat, so that a burst of load on the shared machine falls on all of them alike) and ns per
    effective synaptic op."""
    ems = {name: Emulator(net, stream) for name, (net, stream, _) in cases.items()}
    traces = {name: ems[name].run(x) for name, (_, _, x) in cases.items()}  # warm: builds, plans
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeats):
        for name, (_, _, x) in cases.items():
            best[name] = min(best[name], timed(ems[name], x))
    rows = {}
    for name, (net, _, x) in cases.items():
        col = Collector(net, ())
        col.add(x, traces[name], best[name])
        synops = int(col.synops[0].sum())
        rows[name] = dict(
            seconds=round(best[name], 4),
            synops=synops,
            ns_per_synop=round(best[name] / synops * 1e9, 3),
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    cases, baselines = {}, {}
    for nets, baseline in ((_dense_nets(rng), "dense CUBA"), (_spatial_nets(rng), "conv CUBA")):
        for name, (net, stream) in nets.items():
            shape = net.input_shape
            x = (rng.random((K,) + tuple(shape) + (T,)) < 0.3).astype(np.int32)
            if net.input_neuron:  # a sigma-delta input takes graded values
                x = x * rng.integers(1, 100, x.shape).astype(np.int32)
            cases[name], baselines[name] = (net, stream, x), baseline
    load_before = os.getloadavg()
    rows = {
        name: dict(row, baseline=baselines[name])
        for name, row in costs(cases, args.repeats).items()
    }
    for row in rows.values():
        row["vs_cuba"] = round(row["ns_per_synop"] / rows[row["baseline"]]["ns_per_synop"], 2)
    result = dict(
        what="emulator ns per effective synaptic op, each kind beside its CUBA baseline, one run",
        shapes=dict(dense=f"{N_IN} -> {N_OUT}", spatial="8x32x32", steps=T, samples=K),
        machine=dict(
            platform=platform.platform(),
            cpus=os.cpu_count(),
            load_before=load_before,
            load_after=os.getloadavg(),
        ),
        repeats=args.repeats,
        kinds=rows,
        within_2x=all(r["vs_cuba"] <= 2.0 for r in rows.values()),
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    for name, row in rows.items():
        print(
            f"{name:18s} {row['ns_per_synop']:8.3f} ns/synop  {row['vs_cuba']:5.2f}x {row['baseline']}"
        )


if __name__ == "__main__":
    main()
