"""The fused sigma-delta kernel (``csrc/sdnn.cpp`` through ``neurons/sdnn._run_fused``) computes the same
out / out_max / graded / u / v as the torch path (``_run_torch``): every role, ReLU and unit, bias,
thresholds 0 and above, cum_error, graded and 0/1 spikes, recorded or not, on random inputs from small
ones to ones whose int32 sums wrap and that reach numpy's abs of -2^31."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
import torch

from tna_deploy.engine import kinds_ext
from tna_deploy.engine.emulator import Emulator, Stream
from tna_deploy.engine.neurons import sdnn
from tna_deploy.ir import DeployedNet, Layer
from tna_deploy.ir.neurons import SigmaDeltaNeuron

pytestmark = pytest.mark.skipif(kinds_ext.get() is None, reason="no C++ compiler: no fused kinds")

I32 = 1 << 31
EDGES = [-I32, -I32 + 1, I32 - 1, I32 - 2, -1, 0, 1, 1 << 30, -(1 << 30)]


def _same(got, want):
    assert got.graded == want.graded and got.out_max == want.out_max
    assert got.out.dtype == want.out.dtype and torch.equal(got.out, want.out)
    for g, w in ((got.u, want.u), (got.v, want.v)):
        if w is None:
            assert g is None
        else:
            assert g.dtype == w.dtype and torch.equal(g, w)


def _input(rng, scale, shape) -> tuple:
    """(a int64, a_max): random integers up to ``scale``, 30 % zeros, a repeated step; "edge": int32's
    extremes (and values past them, which Lava's int32 input wraps)."""
    if scale == "edge":
        a = rng.choice(EDGES + [5, -7, 100], shape)
        a[rng.random(shape) < 0.1] += 1 << 32  # past int32: wrapped on the way in
        a[0].flat[0], a[1].flat[0] = -I32, -I32  # sigma and a unit act of -2^31
        return a, float(np.abs(a).max())
    a = rng.integers(-scale, scale + 1, shape)
    a[rng.random(shape) < 0.3] = 0
    a[2] = a[1]  # repeated input: a Delta sends nothing new
    return a, float(scale)


def _neurons(role, act_mode, cum, threshold, exps):
    spike_exp, state_exp = exps
    vth = None if role == "sigma" else threshold
    base = SigmaDeltaNeuron(
        role, vth, spike_exp=spike_exp, state_exp=state_exp, cum_error=cum, act_mode=act_mode
    )
    return base, dataclasses.replace(base, message_bits=0)


@pytest.mark.parametrize("exps", [(6, 6), (0, 0), (3, 1)])
@pytest.mark.parametrize("scale", [40, 1 << 12, 1 << 21, 1 << 30, "edge"])
@pytest.mark.parametrize("threshold", [0, 3, 1000])
@pytest.mark.parametrize("cum", [False, True])
@pytest.mark.parametrize(
    "role, act_mode, with_bias",
    [
        ("delta", "relu", False),
        ("sigma", "relu", False),
        ("sigma_delta", "relu", False),
        ("sigma_delta", "relu", True),
        ("sigma_delta", "unit", False),
        ("sigma_delta", "unit", True),
    ],
)
def test_fused_equals_torch(role, act_mode, with_bias, cum, threshold, scale, exps):
    if role == "sigma" and (cum or threshold):
        pytest.skip("a Sigma has no threshold")
    rng = np.random.default_rng(
        zlib.crc32(repr((role, act_mode, with_bias, cum, threshold, scale, exps)).encode())
    )
    steps, k, n = int(rng.integers(3, 25)), int(rng.integers(1, 4)), int(rng.integers(1, 700))
    a, a_max = _input(rng, scale, (steps, k, n))
    bias = None
    if with_bias:  # up to 2^20: bias << e alone leaves int32 for e >= 11
        hi = 300 if scale == 40 else 1 << 20
        bias = torch.from_numpy(rng.integers(-hi, hi + 1, n).astype(np.float64))
    for neuron in _neurons(role, act_mode, cum, threshold, exps):
        for record in (False, True):
            want = sdnn._run_torch(torch.from_numpy(a), a_max, neuron, bias, record)
            dtypes = [torch.int64, torch.float64, torch.int32 if a_max < I32 else torch.int64]
            if a_max < 1 << 24:
                dtypes += [torch.float32]
            if a_max < 1 << 15:
                dtypes += [torch.int16]  # not a kernel type: converted first
            for dtype in dtypes:
                got = sdnn._run_fused(torch.from_numpy(a).to(dtype), a_max, neuron, bias, record)
                _same(got, want)


def test_the_wrap_cases_are_reached():
    """The "edge" inputs above do reach what the wraps decide: an act of -2^31, a delta of -2^31 held back
    by numpy's abs, and a graded value past float32's integers (the float64 output)."""
    rng = np.random.default_rng(1)
    a, a_max = _input(rng, "edge", (20, 2, 300))
    neuron = SigmaDeltaNeuron("sigma_delta", 0, spike_exp=0, state_exp=0, act_mode="unit")
    got = sdnn._run_fused(torch.from_numpy(a), a_max, neuron, None, True)
    _same(got, sdnn._run_torch(torch.from_numpy(a), a_max, neuron, None, True))
    assert got.v[0, 0, 0] == -I32 and got.out[0, 0, 0] == 0  # |-2^31| < 0: not sent
    assert got.out.dtype == torch.float64 and got.out_max >= 1 << 24


@pytest.mark.parametrize("role", ["delta", "sigma_delta", "sigma"])
def test_float_inputs_past_2_51_are_taken_exactly(role):
    """Float inputs from 2^51 on (past the kernel's float conversion) go in as int64: wrapped the same."""
    rng = np.random.default_rng(2)
    a, _ = _input(rng, "edge", (9, 2, 50))
    a = a + rng.integers(-1, 2, a.shape) * (1 << 52)  # exact in float64: below 2^53
    a_max = float(np.abs(a).max())
    assert a_max >= sdnn.FLOAT_IN
    neuron = SigmaDeltaNeuron(role, None if role == "sigma" else 2, spike_exp=0, state_exp=1)
    want = sdnn._run_torch(torch.from_numpy(a), a_max, neuron, None, True)
    _same(sdnn._run_fused(torch.from_numpy(a).to(torch.float64), a_max, neuron, None, True), want)


def _net(rng) -> DeployedNet:
    """input Delta (40) -> dense SigmaDelta (30, cum_error, 16-bit biases) -> dense SigmaDelta (20,
    unit) -> dense Sigma (4): the first dense row is all 60, its sums pass 2^31."""
    w1 = rng.integers(-60, 61, (30, 40))
    w1[0] = 60
    sd = SigmaDeltaNeuron
    layers = (
        Layer("input", 0, (40,), (40,), neuron=sd("delta", 2)),
        Layer(
            "dense",
            1,
            (40,),
            (30,),
            sd("sigma_delta", 5, cum_error=True),
            w1,
            rng.integers(-30000, 30001, 30),
        ),
        Layer(
            "dense",
            2,
            (30,),
            (20,),
            sd("sigma_delta", 1, act_mode="unit"),
            rng.integers(-9, 10, (20, 30)),
            rng.integers(-99, 99, 20),
        ),
        Layer("dense", 3, (20,), (4,), sd("sigma", None), rng.integers(-9, 10, (4, 20))),
    )
    return DeployedNet(layers, (40,))


def test_emulator_sdnn_net_fused_equals_torch(monkeypatch):
    """A whole SDNN network over two samples of inputs from small to int32-wrapping (steps of 100, 2^13,
    2^17, 2^20): the same spikes, state and logits fused as in torch."""
    rng = np.random.default_rng(5)
    net = _net(rng)
    x = np.concatenate(
        [rng.integers(-s, s + 1, (2, 40, 6)) for s in (100, 1 << 13, 1 << 17, 1 << 20)], axis=-1
    )
    record = ("spikes", "current", "voltage")
    fused = Emulator(net, Stream(None)).run(x, record=record)
    monkeypatch.setattr(kinds_ext, "get", lambda: None)
    ref = Emulator(net, Stream(None)).run(x, record=record)
    for got, want in zip(
        fused.spikes + fused.current + fused.voltage, ref.spikes + ref.current + ref.voltage
    ):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(fused.logits, ref.logits)
    assert any(np.abs(v.astype(np.int64)).max() > 1 << 30 for v in ref.voltage)
