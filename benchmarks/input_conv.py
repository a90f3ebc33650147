"""Benchmark: the fast engine's first conv (graded input pixels, few channels) against oneDNN's, per shape.

For first-layer convs of 28x28 inputs (Fashion-MNIST's one channel; two and three channels for DVS and
CIFAR-like inputs) at 3x3 and 5x5 kernels, strides 1 and 2 and 8-64 output channels, on 640 frames of
4-bit pixels (40 % nonzero, as the encoded images), two sides timed in turn (best of ``--repeat``):

* oneDNN: ``F.conv2d`` answered channels-last (for one input channel it answers NCHW: a copy follows),
* ours: ``dense_conv_forward`` (``csrc/spike_conv.cpp``), checked equal to oneDNN's bit for bit first.

The ratios (oneDNN's time / ours) set where ``models/fast_input_conv.py`` uses ours. Writes
benchmarks/results/input_conv.json.

    .venv/bin/python benchmarks/input_conv.py                # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import os

from spike_conv import _best, save

HERE = os.path.dirname(os.path.abspath(__file__))
FRAMES = 640  # 128 samples x 5 steps, folded
SIZE = 28
# (input channels, output channels, kernel, stride)
SHAPES = [
    (c, o, k, s)
    for c in (1, 2, 3)
    for o in (8, 16, 32, 64)
    for k in (3, 5)
    for s in (1, 2)
    if c == 1 or (k, s) == (3, 1)
]


def one(c: int, o: int, k: int, stride: int, repeat: int) -> dict:
    import torch

    from tna_deploy.models import fast_input_conv as fic

    gen = torch.Generator().manual_seed(c * 100 + o + k + stride)
    pixels = torch.randint(1, 16, (FRAMES, c, SIZE, SIZE), generator=gen)
    h = (pixels * (torch.rand(pixels.shape, generator=gen) < 0.4)).float()
    w = torch.randn(o, c, k, k, generator=gen) * 0.1
    geometry = ((stride, stride), (k // 2, k // 2), (1, 1))
    assert torch.equal(fic.dense(h, w, geometry), fic.onednn(h, w, geometry)), (
        "the dense forward differs from oneDNN's"
    )
    theirs, ours = _best(
        [lambda: fic.onednn(h, w, geometry), lambda: fic.dense(h, w, geometry)], repeat
    )
    return dict(
        in_channels=c,
        out_channels=o,
        kernel=k,
        stride=stride,
        onednn_ms=round(theirs, 2),
        ours_ms=round(ours, 2),
        speedup=round(theirs / ours, 2),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "input_conv.json"))
    a = ap.parse_args()

    from tna_deploy.engine import cuba_ext
    from tna_deploy.memory import keep_freed_pages

    if cuba_ext.get() is None:
        raise SystemExit("input_conv: no C++ build of the fused kernels (a C++ compiler is needed)")
    keep_freed_pages()  # as simulate and train run: the outputs reuse freed pages
    rows = []
    for c, o, k, s in SHAPES:
        row = one(c, o, k, s, a.repeat)
        rows.append(row)
        print(
            f"{c}->{o:<3} {k}x{k} stride {s}: oneDNN {row['onednn_ms']:6.1f} ms, ours "
            f"{row['ours_ms']:6.1f} ms, {row['speedup']:.2f}x",
            flush=True,
        )
    save(a.out, "input_conv", rows, frames=FRAMES, size=SIZE, repeat=a.repeat)


if __name__ == "__main__":
    main()
