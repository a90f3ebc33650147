"""The fused path's int32 kernels (csrc/spike_fast.cpp) give the torch path's integers where
spike_path.py proves their bounds (iDecay 4096, conv weights summing to at most 2^17 each way, integer
biases below 2^30), and the double kernels take the rest: on the bounds' edges, on inputs past 2^17 (lane by
lane), with a per-sample bias (``drive="bias"``), with a threshold past v's clip."""

from __future__ import annotations

import numpy as np
import pytest

from tna_deploy.engine import spike_ext, spike_path
from tna_deploy.engine.emulator import Emulator
from tna_deploy.ir import DeployedNet, Layer, Neuron

lib = spike_ext.get()
pytestmark = pytest.mark.skipif(
    lib is None or not lib.fast, reason="no C++ compiler or no AVX2: no int32 kernels"
)


def _same(a, b) -> None:
    assert len(a.spikes) == len(b.spikes)
    for i, (p, q) in enumerate(zip(a.spikes, b.spikes)):
        assert p.shape == q.shape and np.array_equal(p, q), f"layer {i}"
    assert np.array_equal(a.logits, b.logits)


def _three_ways(net: DeployedNet, x, monkeypatch, **kw):
    """(int32 kernels, double kernels, torch path) traces of the same run."""
    drive = kw.pop("drive", "spikes")
    fast = Emulator(net, drive=drive).run(x, **kw)
    monkeypatch.setattr(spike_path, "FAST", False)
    double = Emulator(net, drive=drive).run(x, **kw)
    monkeypatch.setattr(spike_path, "ENABLED", False)
    ref = Emulator(net, drive=drive).run(x, **kw)
    monkeypatch.setattr(spike_path, "ENABLED", True)
    monkeypatch.setattr(spike_path, "FAST", True)
    _same(fast, ref)
    _same(double, ref)
    return fast


def _net(w: np.ndarray, neuron: Neuron, bias=None, c: int = 3, size: int = 11) -> DeployedNet:
    cout = w.shape[0]
    o = size - w.shape[2] + 1
    layers = (
        Layer("input", 0, (c, size, size), (c, size, size), neuron=neuron, bias=bias),
        Layer("conv", 1, (c, size, size), (cout, o, o), neuron, w, padding=(0, 0)),
        Layer("flatten", 2, (cout, o, o), (cout * o * o,)),
        Layer("dense", 3, (cout * o * o,), (4,), neuron, np.ones((4, cout * o * o))),
    )
    return DeployedNet(layers, (c, size, size))


def _fast_flags(net: DeployedNet) -> list:
    return [s.fast for s in spike_path.plan(Emulator(net), ("spikes",)).steps]


@pytest.mark.parametrize(
    "cin,k,stride,pad,dil,cout",
    [
        (3, 3, 1, 0, 1, 37),  # kernel rows of 9 bits: the table
        (24, 3, 2, 0, 1, 37),  # rows of 72 bits: two words of the packed frame
        (40, 2, 1, 0, 1, 37),
        (5, 5, 1, 0, 1, 37),
        (3, 3, 2, 1, 1, 37),  # padding: rows cut at the frame's edge leave the table for the bits
        (64, 3, 1, 2, 1, 70),  # 192-bit rows, padding 2, 70 outputs: two blocks of lanes
        (7, 3, 1, 1, 2, 9),  # dilation along y only
        (4, 3, 1, 0, (1, 2), 9),  # dilation along x: the double kernel
    ],
)
def test_int32_kernels_on_convs_with_tables_and_active_inputs(
    cin, k, stride, pad, dil, cout, monkeypatch
):
    rng = np.random.default_rng(cin + k + pad)
    n = Neuron(threshold=20, current_decay=4096, voltage_decay=int(rng.integers(0, 4097)))
    w = rng.integers(-60, 61, (cout, cin, k, k))
    size = 13
    dy, dx = (dil, 1) if isinstance(dil, int) else dil
    oy, ox = ((size + 2 * pad - d * (k - 1) - 1) // stride + 1 for d in (dy, dx))
    layers = (
        Layer("input", 0, (cin, size, size), (cin, size, size), neuron=n),
        Layer("conv", 1, (cin, size, size), (cout, oy, ox), n, w, stride=(stride, stride),
              padding=(pad, pad), dilation=(dy, dx), bias=rng.integers(-9, 10, cout)),
    )  # fmt: skip
    net = DeployedNet(layers, (cin, size, size))
    assert _fast_flags(net) == [True, dx == 1]
    x = rng.integers(0, 30, (3, cin, size, size, 21)).astype(np.int32)
    got = _three_ways(net, x, monkeypatch)
    assert got.spikes[1].sum() > 0


def test_weight_bound_edges_and_an_unreachable_threshold(monkeypatch):
    """Positive weights summing to 2^17 take the int32 kernel, one more the double one; a threshold past
    v's clip never fires in either."""
    n = Neuron(threshold=1, current_decay=4096, voltage_decay=0)
    w = np.zeros((2, 3, 2, 2), dtype=np.int64)
    w[0, :, 0, 0] = [1 << 16, 1 << 15, 1 << 15]  # 2^17
    w[1, 0, 1, 1] = -((1 << 17) - 1)  # and -(2^17 - 1): z << 6 stays above -2^23
    assert _fast_flags(_net(w, n)) == [True, True, False]
    x = np.ones((2, 3, 11, 11, 5), dtype=np.int32) * 40
    _three_ways(_net(w, n), x, monkeypatch)
    over = w.copy()
    over[0, 0, 1, 0] = 1
    assert _fast_flags(_net(over, n)) == [True, False, False]
    _three_ways(_net(over, n), x, monkeypatch)
    silent = Neuron(threshold=1 << 17, current_decay=4096, voltage_decay=100)
    got = _three_ways(_net(w, silent), x, monkeypatch)
    assert all(s.sum() == 0 for s in got.spikes)


def test_inputs_past_2_17_take_the_reference_step_lane_by_lane(monkeypatch):
    n = Neuron(threshold=300, current_decay=4096, voltage_decay=300)
    rng = np.random.default_rng(5)
    w = rng.integers(-40, 41, (6, 3, 3, 3))
    x = rng.integers(-(1 << 17), (1 << 17) + 1, (3, 3, 11, 11, 7)).astype(np.int32)
    x[0, 0, 0, 0, 3] = (1 << 17) + 1  # u wraps at 24 bits
    x[1, 2, 5, 5, 0] = -(1 << 17)
    x[2, 1, 4, 4, 6] = (1 << 31) - 1  # a_in << 6 wraps in int32
    _three_ways(_net(w, n, bias=rng.integers(-5, 6, (3, 11, 11))), x, monkeypatch)


def test_bias_drive_takes_the_fused_path(monkeypatch):
    n = Neuron(threshold=25, current_decay=4096, voltage_decay=1024)
    rng = np.random.default_rng(6)
    w = rng.integers(-40, 41, (6, 3, 3, 3))
    net = _net(w, n)
    frames = rng.integers(1, 77, (3, 3, 11, 11))
    seen = []
    real = spike_path.SpikePath.run
    monkeypatch.setattr(
        spike_path.SpikePath, "run", lambda self, *a: seen.append(a[0] is None) or real(self, *a)
    )
    got = _three_ways(net, frames, monkeypatch, drive="bias", steps=16)
    assert seen[:2] == [True, True] and got.spikes[0].shape == (3, 3, 11, 11, 16)
    halves = frames / 2  # a bias of half mantissas: the double kernels, the same integers
    _three_ways(net, halves, monkeypatch, drive="bias", steps=5)
    one = Emulator(net, drive="bias").run(frames[:1], steps=16)
    assert np.array_equal(one.spikes[1], got.spikes[1][:1])


@pytest.mark.parametrize("steps", [1, 9, 16, 32, 33])
def test_inputs_constant_through_the_window_and_not(steps, monkeypatch):
    """Input neurons whose inputs hold through the window take cached spike trains (T <= 32): a change at
    the last step, a value past 2^17 and T past 32 take the step-by-step kernels; all give the same spikes."""
    n = Neuron(threshold=25, current_decay=4096, voltage_decay=1024)
    rng = np.random.default_rng(steps)
    w = rng.integers(-40, 41, (6, 3, 3, 3))
    net = _net(w, n, bias=rng.integers(-3, 4, (3, 11, 11)))
    frames = rng.integers(-5, 77, (4, 3, 11, 11))
    x = np.repeat(frames[..., None], steps, axis=-1).astype(np.int32)
    x[1, 0, 3, 3, -1] += 1
    x[2, 2, 7, 1] = (1 << 17) + 1
    x[3, 1, 2, 2] = -(1 << 17) + 1
    got = _three_ways(net, x, monkeypatch)
    assert got.spikes[0].sum() > 0
