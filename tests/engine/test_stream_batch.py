"""Streams run K at a time (K as the batch axis of every layer) give what they give one by one, for every
neuron kind, with resets at any offset, biases and recorded state; a network whose layers tie the K inputs
into one time line (a delay, a recurrent layer) still runs them one by one."""

from __future__ import annotations

import numpy as np
import pytest

from tna_deploy.engine.emulator import Emulator, Stream
from tna_deploy.engine.trace import Trace
from tna_deploy.ir import DeployedNet, Layer, Neuron
from tna_deploy.ir.neurons import RFNeuron, SigmaDeltaNeuron

N_IN, N_OUT, T, K = 40, 12, 23, 4
RECORD = ("spikes", "current", "voltage")


def _one_by_one(net: DeployedNet, stream: Stream, x: np.ndarray, record: tuple) -> Trace:
    em = Emulator(net, stream)
    return Trace.concat([em.run(x[j : j + 1], record) for j in range(len(x))])


def _same(a: Trace, b: Trace) -> None:
    for name in ("spikes", "current", "voltage"):
        pa, pb = getattr(a, name), getattr(b, name)
        assert (pa is None) == (pb is None), name
        for i, (p, q) in enumerate(zip(pa or [], pb or [])):
            assert p.shape == q.shape and np.array_equal(p, q), f"{name}, layer {i}"
    assert np.array_equal(a.logits, b.logits)


def _cuba(rng) -> DeployedNet:
    n = Neuron(threshold=30, current_decay=1024, voltage_decay=300)
    return DeployedNet(
        [
            Layer("input", 0, (N_IN,), (N_IN,), neuron=n, bias=rng.integers(-3, 9, N_IN)),
            Layer("dense", 1, (N_IN,), (N_OUT,), n, rng.integers(-40, 41, (N_OUT, N_IN))),
            Layer("dense", 2, (N_OUT,), (5,), n, rng.integers(-40, 41, (5, N_OUT))),
        ],
        (N_IN,),
    )


def _sdnn(rng) -> DeployedNet:
    return DeployedNet(
        [
            Layer("input", 0, (N_IN,), (N_IN,), neuron=SigmaDeltaNeuron("delta", threshold=2)),
            Layer(
                "dense",
                1,
                (N_IN,),
                (N_OUT,),
                SigmaDeltaNeuron("sigma_delta", threshold=20),
                rng.integers(-40, 41, (N_OUT, N_IN)),
            ),
            Layer(
                "dense",
                2,
                (N_OUT,),
                (5,),
                SigmaDeltaNeuron("sigma", threshold=None),
                rng.integers(-40, 41, (5, N_OUT)),
            ),
        ],
        (N_IN,),
    )


def _rf(rng) -> DeployedNet:
    return DeployedNet(
        [
            Layer("input", 0, (N_IN,), (N_IN,)),
            Layer(
                "dense_comp",
                1,
                (N_IN,),
                (N_OUT,),
                RFNeuron(40, 300, 4000, "RF_IZ"),
                rng.integers(-60, 61, (N_OUT, N_IN)),
                weight_imag=rng.integers(-60, 61, (N_OUT, N_IN)),
            ),
        ],
        (N_IN,),
    )


@pytest.mark.parametrize("build", [_cuba, _sdnn, _rf])
@pytest.mark.parametrize("stream", [Stream(None), Stream(5, 0), Stream(4, 3)])
def test_streams_at_once_equal_streams_one_by_one(build, stream):
    rng = np.random.default_rng(7)
    net = build(rng)
    x = rng.integers(0, 2, (K, N_IN, T)) * rng.integers(1, 60, (K, N_IN, T))
    if not net.input_neuron:
        x = (x > 0).astype(np.int32)
    em = Emulator(net, stream)
    assert not em._couples_samples()
    for record in (("spikes",), RECORD):
        got = em.run(x, record)
        _same(got, _one_by_one(net, stream, x, record))
    assert any(s.any() for s in got.spikes)


def test_a_delay_keeps_the_streams_one_by_one():
    rng = np.random.default_rng(3)
    n = Neuron(threshold=10, current_decay=1024, voltage_decay=300)
    w = rng.integers(-40, 41, (N_OUT, N_IN))
    delay = rng.integers(0, 3, (N_OUT, N_IN))
    net = DeployedNet(
        [
            Layer("input", 0, (N_IN,), (N_IN,)),
            Layer("dense", 1, (N_IN,), (N_OUT,), n, w, delay=delay),
        ],
        (N_IN,),
    )
    em = Emulator(net, Stream(None))
    assert em._couples_samples()
    x = rng.integers(0, 2, (K, N_IN, T)).astype(np.int32)
    _same(em.run(x), _one_by_one(net, Stream(None), x, ("spikes",)))
