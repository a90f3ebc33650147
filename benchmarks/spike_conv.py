"""Benchmark: the fast engine's conv over spikes against oneDNN's, per CIFARNet conv shape and input density.

For each conv over spikes of CIFARNet at widths 1/16, 1/8 and 1/4 (28x28 Fashion-MNIST, batch 64, T = 5:
320 images), at 10-40 % nonzero inputs (0/1 spikes), three pairs, the two sides timed in turn (best of
``--repeat``):

* forward: the gather over active inputs vs ``F.conv2d`` (checked equal bit for bit on every call),
* weight gradient: the sum over active inputs vs oneDNN's ``convolution_backward``, checked to 1e-4 of its
  largest value (the fast engine's tolerance against stock SLAYER).

(The input gradient, over a dense output gradient, is oneDNN's on both sides.)

The ratios (oneDNN's time / ours) set where ``models/fast_spike_conv.py`` uses each. Writes
benchmarks/results/spike_conv.json.

    .venv/bin/python benchmarks/spike_conv.py                # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/spike_conv.py --widths 0.125 --densities 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = 320  # batch 64 x 5 steps, folded
# CIFARNet's convs over spikes at width 1: (in channels, out channels, frame size) on 28x28 input
CONVS = [(128, 256, 28), (256, 512, 14), (512, 1024, 7), (1024, 512, 7)]


def _best(fns, repeat: int) -> list:
    """Each function's best time in ms, the functions called in turn so that load hits them alike."""
    for f in fns:
        f()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, f in enumerate(fns):
            t = time.perf_counter()
            f()
            best[i] = min(best[i], (time.perf_counter() - t) * 1e3)
    return best


def one(c: int, o: int, size: int, density: float, repeat: int) -> dict:
    import torch
    import torch.nn.functional as F

    from tna_deploy.models import fast_spike_conv as fsc

    cl = torch.channels_last
    gen = torch.Generator().manual_seed(c + o + size)
    h = (
        (torch.rand(IMAGES, c, size, size, generator=gen) < density)
        .float()
        .contiguous(memory_format=cl)
    )
    w = (torch.randn(o, c, 3, 3, generator=gen) * 0.1).contiguous(memory_format=cl)
    g = torch.randn(IMAGES, o, size, size, generator=gen).contiguous(memory_format=cl)
    pad, dil = (1, 1), (1, 1)

    def onednn_back(mask):
        return torch.ops.aten.convolution_backward(
            g, h, w, None, [1, 1], list(pad), list(dil), False, [0, 0], 1, mask
        )

    z, ref = fsc.forward(h, w, pad, dil), F.conv2d(h, w, None, 1, pad, dil)
    assert torch.equal(z, ref), "the gather's forward differs from oneDNN's"
    ref_w = onednn_back([False, True, False])[1]
    ours = fsc.weight_grad(h, g, (3, 3), pad, dil)
    assert float((ours - ref_w).abs().max()) <= 1e-4 * float(ref_w.abs().max())
    fwd = _best(
        [lambda: F.conv2d(h, w, None, 1, pad, dil), lambda: fsc.forward(h, w, pad, dil)], repeat
    )
    wgrad = _best(
        [
            lambda: onednn_back([False, True, False]),
            lambda: fsc.weight_grad(h, g, (3, 3), pad, dil),
        ],
        repeat,
    )
    row = dict(in_channels=c, out_channels=o, size=size, density=density)
    for name, (theirs, ours) in (("forward", fwd), ("weight_grad", wgrad)):
        row[name] = dict(
            onednn_ms=round(theirs, 2), ours_ms=round(ours, 2), speedup=round(theirs / ours, 2)
        )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="0.0625,0.125,0.25")
    ap.add_argument("--densities", default="0.1,0.2,0.3,0.4")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "spike_conv.json"))
    a = ap.parse_args()

    from tna_deploy.engine import cuba_ext

    if cuba_ext.get() is None:
        raise SystemExit("spike_conv: no C++ build of the fused kernels (a C++ compiler is needed)")
    rows = []
    for width in [float(v) for v in a.widths.split(",")]:
        for c, o, size in CONVS:
            c, o = max(1, round(c * width)), max(1, round(o * width))
            for density in [float(v) for v in a.densities.split(",")]:
                row = dict(width=width, **one(c, o, size, density, a.repeat))
                rows.append(row)
                print(
                    f"1/{round(1 / width)} {c:>4}->{o:<4} {size:>2}x{size:<2} {density:.0%} active: "
                    + "  ".join(
                        f"{k} {row[k]['speedup']:.2f}x" for k in ("forward", "weight_grad")
                    ),
                    flush=True,
                )
    save(a.out, "spike_conv", rows, images=IMAGES, repeat=a.repeat)


def save(out: str, benchmark: str, rows: list, **fields) -> None:
    """The result file: the benchmark's name, the machine, Python and torch, ``fields`` and the rows."""
    import torch

    result = dict(
        benchmark=benchmark,
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        python=platform.python_version(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        **fields,
        rows=rows,
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
