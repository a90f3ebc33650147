"""The fused C++ kernels of the layer kinds (``engine/kinds_ext``: dense_rec's step-by-step loop, the
resonators, pool / unpool / convT with their CUBA neurons) compute the same integers as their torch
paths, on random inputs that reach the 24-bit wraps, the voltage clip, the int32 shift wrap and the
resonators' saturation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tna_deploy.engine import kinds_ext
from tna_deploy.engine.emulator import Emulator
from tna_deploy.engine.neurons import rf
from tna_deploy.engine.synapses import dense_rec, scatter
from tna_deploy.ir import DeployedNet, Layer, Neuron

pytestmark = pytest.mark.skipif(kinds_ext.get() is None, reason="no C++ compiler: no fused kinds")


def _same(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert torch.equal(a.to(torch.float64), b.to(torch.float64))


@pytest.mark.parametrize("seed", range(6))
def test_dense_rec_steps_fused_equal_torch(seed):
    rng = np.random.default_rng(seed)
    steps, n = int(rng.integers(1, 40)), int(rng.integers(1, 70))
    big = seed % 3 == 0  # sums past 2^25: the int32 wrap of a_in << 6, u's wrap and v's clip
    hi = 1 << 27 if big else 300
    flat = torch.from_numpy(rng.integers(-hi, hi, (steps, n)).astype(np.float64))
    w_rec = torch.from_numpy(rng.integers(-256, 255, (n, n)).astype(np.float64))
    resets = torch.from_numpy((rng.random(steps) < 0.2).astype(np.uint8))
    bias = (
        None if seed % 2 else torch.from_numpy(rng.integers(-500, 500, n).astype(np.float64) * 64)
    )
    neuron = Neuron(
        threshold=0 if seed == 5 else int(rng.integers(0, 200)),
        current_decay=int(rng.choice([0, 1, 1024, 4095, 4096])),
        voltage_decay=int(rng.choice([0, 7, 512, 4096])),
    )
    s = torch.from_numpy((rng.random(n) < 0.5).astype(np.float64))
    exp = int(rng.integers(-6, 1))
    w_t32 = w_rec.t().contiguous().to(torch.int32)  # the fused loop's int32 transposed mantissas
    for record in (False, True):
        args = (flat, resets, w_rec, exp, bias, big, neuron, s, record)
        fused = dense_rec._steps_fused(flat, resets, w_t32, *args[3:])
        for got, want in zip(fused, dense_rec._steps_torch(*args)):
            _same(got, want)
    if big:
        assert dense_rec._steps_torch(*args)[2].abs().max() == (1 << 23) - 1  # v clipped


@pytest.mark.parametrize("phase", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_rf_steps_fused_equal_torch(phase, seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 30)), int(rng.integers(1, 4)), int(rng.integers(1, 50)))
    hi = 1 << (24 if seed % 2 else 12)  # past +-(2^23 - 1): saturation
    a_re, a_im = (torch.from_numpy(rng.integers(-hi, hi, shape) << 6) for _ in range(2))
    s_dec, c_dec = (int(v) for v in rng.integers(-4096, 4097, 2))
    vth = int(rng.integers(0, 3000)) << 6
    for record in (False, True):
        args = (a_re, a_im, s_dec, c_dec, vth, phase, record)
        got, want = rf._steps_fused(*args), rf._steps(*args)
        for g, w in zip(got, want):
            _same(g, w)
    assert want[0].sum() > 0
    if seed % 2:
        assert want[1].abs().max() == (1 << 23) - 1


# --- pool, unpool, convT fused with their neurons ---------------------------------------------------


def _neuron(rng) -> Neuron:
    return Neuron(
        threshold=int(rng.integers(0, 120)),
        current_decay=int(rng.choice([0, 1024, 4096])),
        voltage_decay=int(rng.choice([0, 512, 4096])),
    )


def _out_hw(kind, h, w, k, stride, padding, dilation) -> tuple:
    if kind == "pool":
        h, w = h + h % k[0], w + w % k[1]
        return tuple(
            (n + 2 * p - d * (kk - 1) - 1) // s + 1
            for n, kk, s, p, d in zip((h, w), k, stride, padding, dilation)
        )
    return tuple(
        (n - 1) * s - 2 * p + d * (kk - 1) + 1
        for n, kk, s, p, d in zip((h, w), k, stride, padding, dilation)
    )


# (kind, input (C, H, W), kernel, stride, padding, dilation, groups, output channels)
GEOMETRIES = [
    ("pool", (3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), 1, 3),
    ("pool", (2, 6, 7), (3, 3), (3, 3), (0, 1), (1, 1), 1, 2),  # SLAYER's odd-size column, a pad
    ("pool", (1, 9, 7), (3, 2), (2, 1), (1, 0), (2, 1), 1, 1),
    ("unpool", (3, 5, 6), (2, 2), (2, 2), (0, 0), (1, 1), 1, 3),
    ("unpool", (2, 4, 4), (2, 3), (2, 2), (0, 1), (1, 1), 1, 2),  # overlapping columns
    ("convT", (4, 5, 5), (3, 3), (2, 2), (1, 1), (1, 1), 2, 6),
    ("convT", (2, 6, 4), (2, 3), (1, 2), (0, 1), (2, 1), 1, 3),
]


def _layer(geometry, rng, big: bool) -> Layer:
    kind, shape, k, stride, padding, dilation, groups, cout = geometry
    c, h, w = shape
    hi = (1 << 21 if kind == "convT" else 1 << 23) if big else 40
    if kind == "convT":
        weight = rng.integers(-hi, hi, (c, cout // groups, *k))
    else:
        weight = rng.integers(1, hi, (1, 1, *k))
    oh, ow = _out_hw(kind, h, w, k, stride, padding, dilation)
    return Layer(
        kind, 1, shape, (cout, oh, ow), _neuron(rng), weight,
        rng.integers(-30, 30, (cout,)), stride, padding, dilation, groups,
    )  # fmt: skip


def _run(net, x, monkeypatch, fused: bool):
    with monkeypatch.context() as m:
        if not fused:
            m.setattr(scatter, "run", lambda *a: None)
        return Emulator(net).run(x)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}{g[1]}")
@pytest.mark.parametrize("mode", ["binary", "graded", "wrap24"])
def test_spatial_kinds_fused_equal_torch(geometry, mode, monkeypatch):
    rng = np.random.default_rng(len(mode) * 31 + GEOMETRIES.index(geometry))
    layer = _layer(geometry, rng, big=mode == "wrap24")
    shape = layer.in_shape
    net = DeployedNet(
        (Layer("input", 0, shape, shape), layer), shape, input_bits=8 if mode == "graded" else 0
    )
    x = (rng.random((3, *shape, 12)) < 0.4) * rng.integers(1, 200 if mode == "graded" else 2, 1)
    x = x.astype(np.int32)
    p = Emulator(net).layers[0]
    assert p.extra["taps"] is not None
    got, want = _run(net, x, monkeypatch, True), _run(net, x, monkeypatch, False)
    assert np.array_equal(got.spikes[0], want.spikes[0])
    assert np.array_equal(got.logits, want.logits)
    assert want.spikes[0].any()
    if mode == "wrap24":  # the sums pass 2^23: the 24-bit wrap changes them
        assert p.row_sum * float(x.max()) >= 1 << 23


def test_fused_spatial_layers_feed_each_other_and_the_torch_path(monkeypatch):
    """conv -> pool -> unpool -> convT -> conv: fused layers take a fused layer's raster and hand
    theirs to a conv (the torch path)."""
    rng = np.random.default_rng(7)
    n = lambda: Neuron(threshold=10, current_decay=1024, voltage_decay=256)  # noqa: E731
    layers = [
        Layer("input", 0, (2, 8, 8), (2, 8, 8)),
        Layer(
            "conv",
            1,
            (2, 8, 8),
            (4, 8, 8),
            n(),
            rng.integers(-20, 40, (4, 2, 3, 3)),
            padding=(1, 1),
        ),  # noqa: E501
        Layer("pool", 2, (4, 8, 8), (4, 4, 4), n(), np.full((1, 1, 2, 2), 30), stride=(2, 2)),  # noqa: E501
        Layer("unpool", 3, (4, 4, 4), (4, 8, 8), n(), np.full((1, 1, 2, 2), 40), stride=(2, 2)),  # noqa: E501
        Layer(
            "convT",
            4,
            (4, 8, 8),
            (2, 16, 16),
            n(),
            rng.integers(-30, 60, (4, 1, 2, 2)),
            stride=(2, 2),
            groups=2,
        ),  # noqa: E501
        Layer(
            "conv",
            5,
            (2, 16, 16),
            (3, 8, 8),
            n(),
            rng.integers(-20, 40, (3, 2, 2, 2)),
            stride=(2, 2),
        ),  # noqa: E501
    ]
    net = DeployedNet(tuple(layers), (2, 8, 8))
    x = (rng.random((4, 2, 8, 8, 16)) < 0.5).astype(np.int32)
    got, want = _run(net, x, monkeypatch, True), _run(net, x, monkeypatch, False)
    for g, w in zip(got.spikes, want.spikes):
        assert np.array_equal(g, w)
    assert np.array_equal(got.logits, want.logits)
    assert all(s.any() for s in want.spikes)
