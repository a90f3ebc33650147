"""The emulator's fused spike path (engine/spike_path.py) gives the integers of its torch path: every
layer's spikes and the logits, on random PilotNet-like networks (an input neuron on graded inputs, strided,
padded, dilated and grouped convs, flatten, dense), and on the edge cases: a conv sum past 2^24 (float64 in
the torch path, Lava's 24-bit wrap), a_in << 6 past int32, u past 2^23 (wrap), v clipped, no input neuron."""

from __future__ import annotations

import numpy as np
import pytest

from tna_deploy.engine import spike_ext, spike_path
from tna_deploy.engine.emulator import Emulator
from tna_deploy.ir import DeployedNet, Layer, Neuron

pytestmark = pytest.mark.skipif(spike_ext.get() is None, reason="no C++ compiler: no fused path")


def _both(net: DeployedNet, x: np.ndarray, monkeypatch):
    fast = Emulator(net)
    assert spike_path.plan(fast, ("spikes",)) is not None, "the fused path should apply"
    got = fast.run(x)
    monkeypatch.setattr(spike_path, "ENABLED", False)
    ref = Emulator(net).run(x)
    monkeypatch.setattr(spike_path, "ENABLED", True)
    assert len(got.spikes) == len(ref.spikes)
    for i, (a, b) in enumerate(zip(got.spikes, ref.spikes)):
        assert a.shape == b.shape and a.dtype == b.dtype, i
        assert np.array_equal(a, b), f"layer {i}: {int((a != b).sum())} spikes differ"
    assert np.array_equal(got.logits, ref.logits)
    return got


def _out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _neuron(rng, threshold_hi: int = 400) -> Neuron:
    return Neuron(
        threshold=int(rng.integers(1, threshold_hi)),
        current_decay=int(rng.choice([4096, 0, int(rng.integers(0, 4097))])),
        voltage_decay=int(rng.choice([1024, 0, int(rng.integers(0, 4097))])),
    )


def _random_net(rng) -> DeployedNet:
    c, h, w = int(rng.integers(1, 5)), int(rng.integers(9, 20)), int(rng.integers(9, 24))
    layers = [Layer("input", 0, (c, h, w), (c, h, w), neuron=_neuron(rng, 40))]
    shape = (c, h, w)
    for _ in range(int(rng.integers(1, 4))):
        c, h, w = shape
        k, s, p, d = (
            int(rng.integers(1, 4)),
            int(rng.integers(1, 3)),
            int(rng.integers(0, 2)),
            int(rng.integers(1, 3)),
        )
        p = min(p, d * (k - 1))  # the IR refuses padding past the kernel's reach
        g = int(rng.choice([1, 1, c]))
        cout = g * int(rng.integers(1, 4)) if g > 1 else int(rng.integers(1, 20))
        oh, ow = _out(h, k, s, p, d), _out(w, k, s, p, d)
        if oh < 1 or ow < 1:
            break
        weight = rng.integers(-30, 31, (cout, c // g, k, k))
        bias = rng.integers(-20, 21, cout) if rng.random() < 0.5 else None
        layers.append(
            Layer(
                "conv",
                len(layers),
                shape,
                (cout, oh, ow),
                _neuron(rng),
                weight,
                bias=bias,
                stride=(s, s),
                padding=(p, p),
                dilation=(d, d),
                groups=g,
            )  # fmt: skip
        )
        shape = (cout, oh, ow)
    n = int(np.prod(shape))
    layers.append(Layer("flatten", len(layers), shape, (n,)))
    for out in (int(rng.integers(2, 30)), int(rng.integers(1, 5))):
        bias = rng.integers(-20, 21, out) if rng.random() < 0.5 else None
        weight = rng.integers(-100, 101, (out, n))
        layers.append(Layer("dense", len(layers), (n,), (out,), _neuron(rng), weight, bias=bias))
        n = out
    return DeployedNet(tuple(layers), layers[0].in_shape)


@pytest.mark.parametrize("seed", range(12))
def test_random_pilotnet_like_nets_give_the_same_integers(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    net = _random_net(rng)
    x = rng.integers(0, 77, (3, *net.input_shape, int(rng.integers(1, 17)))).astype(np.int32)
    got = _both(net, x, monkeypatch)
    assert sum(int(s.sum()) for s in got.spikes[1:]) > 0 or seed % 3  # most nets are not silent


def test_conv_sum_past_2_24_float64_and_24_bit_wrap(monkeypatch):
    """1024 channels x 9x9 of weight 255, all firing: the sum (21M) is past 2^24 (float64 in the torch
    path) and wraps at 24 bits in Lava; u wraps, v clips (a threshold never reached)."""
    c = 1024
    w = np.full((3, c, 9, 9), 255)
    w[1] = -256
    w[2, : c // 2] = 77
    fire = Neuron(threshold=0, current_decay=4096, voltage_decay=0)
    never = Neuron(threshold=(1 << 17) - 1, current_decay=0, voltage_decay=0)
    layers = (
        Layer("input", 0, (c, 9, 9), (c, 9, 9), neuron=fire),
        Layer("conv", 1, (c, 9, 9), (3, 1, 1), never, w, bias=np.array([5, -5, 0])),
    )
    net = DeployedNet(layers, (c, 9, 9))
    x = np.full((2, c, 9, 9, 5), 3, dtype=np.int32)
    x[1, :, :, :, 2] = 0
    assert spike_path.plan(Emulator(net), ("spikes",)) is not None
    ref_bound = 255 * c * 81
    assert ref_bound >= 1 << 24
    got = _both(net, x, monkeypatch)
    monkeypatch.setattr(spike_path, "ENABLED", False)
    v = Emulator(net).run(x, record=("spikes", "voltage")).voltage[1]
    assert np.abs(v).max() == (1 << 23) - 1  # clipped
    assert got.logits.shape == (2, 3)


def test_input_shift_past_int32_and_current_wrap(monkeypatch):
    """Input values past 2^25 (a_in << 6 wraps in int32) and past 2^17 (u wraps at 24 bits)."""
    n = Neuron(threshold=100, current_decay=int(300), voltage_decay=700)
    layers = (
        Layer("input", 0, (40,), (40,), neuron=n),
        Layer("dense", 1, (40,), (7,), n, np.arange(280).reshape(7, 40) % 11 - 5),
    )
    net = DeployedNet(layers, (40,))
    rng = np.random.default_rng(3)
    x = rng.integers(-(1 << 31), (1 << 31) - 1, (4, 40, 9), dtype=np.int64)
    x[0] = rng.integers(-(1 << 18), 1 << 18, (40, 9))
    _both(net, x, monkeypatch)


def test_binary_input_without_input_neuron_and_fallbacks(monkeypatch):
    """An input without a neuron and without message bits (x != 0 feeds the first conv); u / v records,
    graded inputs into a synapse and dense delays take the torch path."""
    n = Neuron(threshold=3, current_decay=2000, voltage_decay=500)
    rng = np.random.default_rng(4)
    layers = (
        Layer("input", 0, (2, 8, 8), (2, 8, 8)),
        Layer("conv", 1, (2, 8, 8), (5, 4, 4), n, rng.integers(-9, 10, (5, 2, 3, 3)),
              stride=(2, 2), padding=(1, 1)),
        Layer("flatten", 2, (5, 4, 4), (80,)),
        Layer("dense", 3, (80,), (3,), n, rng.integers(-9, 10, (3, 80))),
    )  # fmt: skip
    net = DeployedNet(layers, (2, 8, 8))
    x = rng.integers(0, 3, (3, 2, 8, 8, 6)).astype(np.int32)
    _both(net, x, monkeypatch)
    e = Emulator(net)
    assert spike_path.plan(e, ("spikes", "current")) is None
    graded = DeployedNet(layers, (2, 8, 8), input_bits=8)
    assert spike_path.plan(Emulator(graded), ("spikes",)) is None
    delayed = DeployedNet(
        layers[:3] + (Layer("dense", 3, (80,), (3,), n, np.ones((3, 80)), delay=np.ones((3, 80))),),
        (2, 8, 8),
    )
    assert spike_path.plan(Emulator(delayed), ("spikes",)) is None
