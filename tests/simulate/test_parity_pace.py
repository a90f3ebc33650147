"""The parity path at the emulator's pace gives the record the plain definitions give: every Comparison
field, the first divergence, the counts and synaptic ops, whatever the rasters' memory layout, on equal
and on diverging rasters. The oracles below are the definitions as they were written before the rasters
were read in memory order (whole-raster passes on C-ordered copies)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from tna_deploy.hardware.counts import fanout, synops_of
from tna_deploy.simulate.collect import Collector
from tna_deploy.simulate.compare import Parity, first_divergence, spike_counts
from tna_deploy.simulate.layout import memory_order, rows
from tna_deploy.simulate.results import Comparison, Divergence, LayerParity

LAYOUTS = {
    "time last": lambda a: np.ascontiguousarray(a),
    "time-major per sample": lambda a: _laid_out(a, (0, a.ndim - 1, *range(1, a.ndim - 1))),
    "the emulator's (K, T, H, W, C)": lambda a: _laid_out(
        a, (0, 4, 2, 3, 1) if a.ndim == 5 else (0, a.ndim - 1, *range(1, a.ndim - 1))
    ),
    "time-major (T, K, ...)": lambda a: _laid_out(a, (a.ndim - 1, *range(a.ndim - 1))),
}


def _laid_out(a: np.ndarray, order: tuple) -> np.ndarray:
    """``a``'s values and shape, its memory in ``order``."""
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def oracle_comparison(names, a, b, chunks) -> Comparison:
    """The parity of the chunks ``[(offset, a_spikes, b_spikes, a_logits, b_logits)]``, by the plain
    definitions: every field from whole-raster passes."""
    samples = agree = 0
    max_diff, mismatched, counts_equal, best = 0.0, [0] * len(names), True, None
    sums = [[0, 0] for _ in names]
    for offset, xs, ys, la, lb in chunks:
        samples += len(la)
        agree += int((la.argmax(1) == lb.argmax(1)).sum())
        max_diff = max(max_diff, float(np.abs(la - lb).max()))
        for i, (x, y) in enumerate(zip(xs, ys)):
            mismatched[i] += int((np.ascontiguousarray(x) != np.ascontiguousarray(y)).sum())
            sums[i][0] += int(np.ascontiguousarray(x).sum())
            sums[i][1] += int(np.ascontiguousarray(y).sum())
        counts_equal &= bool(np.array_equal(spike_counts(xs), spike_counts(ys)))
        first = first_divergence(xs, ys)
        if first is not None:
            first["sample"] += offset
            key = (first["timestep"], first["layer_index"], first["sample"])
            if best is None or key < (best["timestep"], best["layer_index"], best["sample"]):
                best = first
    return Comparison(
        a,
        b,
        samples=samples,
        prediction_agreement_pct=agree / max(samples, 1) * 100.0,
        logits_max_abs_diff=max_diff,
        spike_counts_equal=counts_equal,
        per_layer=[LayerParity(n, m, s[0], s[1]) for n, m, s in zip(names, mismatched, sums)],
        first_divergence=None
        if best is None
        else Divergence(
            names[best["layer_index"]], best["layer_index"], best["timestep"], best["sample"]
        ),
    )


def _chunks(rng, flips: dict, k=4, t=5, n_chunks=3, graded=False):
    """Chunks of a conv-like (C, H, W) and a dense-like (N,) layer, equal on both sides but at
    ``flips`` {(chunk, layer): [index, ...]}."""
    out = []
    for c in range(n_chunks):
        xs = [
            (rng.random((k, 3, 4, 5, t)) < 0.3).astype(np.uint8),
            (rng.random((k, 7, t)) < 0.3).astype(np.uint8),
        ]
        if graded:
            xs[1] = (xs[1] * rng.integers(-9, 9, xs[1].shape)).astype(np.int32)
        ys = [x.copy() for x in xs]
        for i, where in flips.get(c, {}).items():
            for idx in where:
                ys[i][idx] = 1 - ys[i][idx] if not graded or i == 0 else ys[i][idx] + 3
        la = rng.normal(size=(k, 3))
        out.append((c * k, xs, ys, la, la if not flips.get(c) else la + 0.5))
    return out


CASES = {
    "equal": {},
    "one flip": {1: {0: [(2, 1, 0, 3, 2)]}},
    "flips in two chunks and layers, the later chunk earlier in time": {
        0: {1: [(3, 4, 4)]},
        2: {0: [(0, 2, 3, 4, 1), (1, 0, 0, 0, 1)], 1: [(2, 6, 0)]},
    },
    "same step, lower layer wins over earlier sample": {1: {0: [(3, 0, 0, 0, 2)], 1: [(0, 0, 2)]}},
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("graded", [False, True])
def test_parity_record_equals_the_definitions(layout, case, graded):
    rng = np.random.default_rng(len(case) + len(layout))
    chunks = _chunks(rng, CASES[case], graded=graded)
    names = ["1:conv", "2:dense"]
    want = oracle_comparison(names, "emulator", "torch", chunks)
    lay, p = LAYOUTS[layout], Parity(names, "emulator", "torch")
    for offset, xs, ys, la, lb in chunks:
        equal = p.update(offset, [lay(x) for x in xs], [lay(y) for y in ys], la, lb)
        assert equal == all(np.array_equal(x, y) for x, y in zip(xs, ys))
    got = p.result()
    assert got == want
    assert (got.first_divergence is None) == (case == "equal")
    if case == "same step, lower layer wins over earlier sample":
        assert got.first_divergence == Divergence("1:conv", 0, 2, 7)


def test_mixed_layouts_on_the_two_sides():
    """Lava's rasters (time last) against the emulator's ((K, T, H, W, C)): the same record."""
    rng = np.random.default_rng(5)
    chunks = _chunks(rng, CASES["flips in two chunks and layers, the later chunk earlier in time"])
    names = ["1:conv", "2:dense"]
    p = Parity(names, "lava", "emulator")
    a, b = LAYOUTS["time last"], LAYOUTS["the emulator's (K, T, H, W, C)"]
    for offset, xs, ys, la, lb in chunks:
        p.update(offset, [a(x) for x in xs], [b(y) for y in ys], la, lb)
    assert p.result() == oracle_comparison(names, "lava", "emulator", chunks)


def test_rows_are_views_of_the_emulator_layout():
    a = LAYOUTS["the emulator's (K, T, H, W, C)"](
        np.arange(2 * 3 * 4 * 5 * 6).reshape(2, 3, 4, 5, 6)
    )
    r, time_last, index = rows(a)
    assert not time_last and r.shape == (2, 6, 60) and np.shares_memory(r, a)
    flat = np.ascontiguousarray(a).reshape(2, 60, 6)
    assert np.array_equal(r, flat[:, index, :].transpose(0, 2, 1))
    c = np.ascontiguousarray(a)
    r, time_last, index = rows(c)
    assert time_last and index is None and np.shares_memory(r, c)
    assert memory_order(a) == (0, 4, 2, 3, 1) and memory_order(a[:1]) == (0, 4, 2, 3, 1)


def _oracle_collect(net, x, spikes):
    """Counts (K, L-1, T) and synaptic ops (K, L, T) by the definitions, on C-ordered copies."""
    counts, ops = [], []
    fos = iter(fanout(layer).reshape(-1) for layer in net.compute_layers if layer.kind != "input")
    for i, (r, layer) in enumerate(zip([x] + spikes, net.compute_layers)):
        a = torch.from_numpy(np.ascontiguousarray(r).reshape(len(x), -1, x.shape[-1]) != 0)
        if i:
            counts.append(a.sum(dim=1))
        ops.append(
            synops_of(a.to(torch.float64), torch.from_numpy(next(fos).astype(np.float64)))
            if layer.kind != "input"
            else torch.zeros((len(x), x.shape[-1]), dtype=torch.int64)
        )
    return torch.stack(counts, 1).numpy(), torch.stack(ops, 1).numpy()


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_counts_and_synops_in_any_layout_equal_the_definitions(layout, fused, monkeypatch):
    from helpers import conv_dense_net

    from tna_deploy.engine import cuba_ext
    from tna_deploy.engine.emulator import Emulator
    from tna_deploy.engine.trace import Trace
    from tna_deploy.ir import Neuron
    from tna_deploy.simulate import collect

    if fused and cuba_ext.get() is None:
        pytest.skip("no C++ build of the fused kernels")
    net = conv_dense_net(Neuron(threshold=10, current_decay=4096, voltage_decay=1024))
    x = (np.random.default_rng(2).random((6, *net.input_shape, 8)) < 0.5).astype(np.uint8)
    trace = Emulator(net).run(x)
    spikes = [LAYOUTS[layout](s) for s in trace.spikes[:-1]]
    spikes[0] = spikes[0] * np.uint8(3)  # graded: a message per nonzero value
    calls = []
    real = collect._fused_counts
    monkeypatch.setattr(collect, "_fused_counts", lambda *a: calls.append(1) or real(*a))
    if not fused:
        monkeypatch.setenv("TNA_FUSED", "0")
    c = Collector(net, ())
    c.add(x, Trace(spikes, trace.logits), 0.0)
    counts, ops = _oracle_collect(net, x, trace.spikes[:-1])
    got = c.source_counts()
    assert (
        counts.sum() > 0 and np.array_equal(got.counts, counts) and np.array_equal(got.synops, ops)
    )
    assert len(calls) == len(spikes) + 1  # every layer with a synapse asked the fused path


@pytest.mark.skipif(
    __import__("tna_deploy.engine.cuba_ext", fromlist=["get"]).get() is None,
    reason="no C++ build of the fused kernels",
)
@pytest.mark.parametrize("time_last", [True, False])
def test_fused_counts_equal_synops_of(time_last):
    """The C++ pass gives synops_of's integers, large fan-outs and values above 1 included."""
    from tna_deploy.simulate.collect import _fused_counts

    rng = np.random.default_rng(5)
    k, t, j = 7, 6, 1031
    r = (rng.random((k, j, t) if time_last else (k, t, j)) < 0.2) * rng.integers(1, 4, (1,))
    r = r.astype(np.uint8)
    fo = rng.integers(0, 1 << 20, j).astype(np.int32)
    index = None if time_last else rng.permutation(j)
    counts, ops = _fused_counts(r, time_last, index, fo)
    a = torch.from_numpy(r != 0).to(torch.float64)
    a = a if time_last else a.transpose(1, 2)  # (K, J, T), J in memory order
    f = torch.from_numpy((fo if index is None else fo[index]).astype(np.float64))
    assert np.array_equal(ops.numpy(), synops_of(a, f).numpy()) and int(ops.max()) > 1 << 24
    assert np.array_equal(counts.numpy(), a.sum(1).to(torch.int64).numpy())


def _record_oracle(out: str):
    """The parity and PyTorch's counts recomputed from ``--record spikes`` by the definitions."""
    import json

    from tna_deploy.ir import read_netx

    res = json.load(open(os.path.join(out, "results.json")))
    z = np.load(os.path.join(out, "spikes.npz"))
    names = res["layers"][:-1]
    emu = [z[f"emulator_L{i}"] for i in range(len(names))]
    tor = [z[f"torch_L{i}"] for i in range(len(names))]
    c = np.load(os.path.join(out, "counts.npz"))
    want = oracle_comparison(
        names, "emulator", "torch", [(0, emu, tor, c["emulator_logits"], c["torch_logits"])]
    )
    return res, want, c, read_netx(res["file"]), z["input"], tor


@pytest.mark.parametrize("flip", [None, (1, (4, 2, 0, 1, 3))])
def test_simulate_record_equals_the_definitions(exported, monkeypatch, flip):
    """simulate --run in chunks of 5 on the exported network: the record equals the definitions applied
    to the recorded rasters, equal, and with one PyTorch spike flipped in the second chunk (whose
    PyTorch counts are then its own)."""
    import tna_deploy.simulate.run as sim_run
    from tna_deploy.simulate.results import Comparison as C  # noqa: N817

    run, net, d = exported
    real = sim_run.torch_reference
    calls = []

    def flipped(ref, x):
        trace = real(ref, x)
        calls.append(len(x))
        if flip and len(calls) == 2:
            trace.spikes[flip[0]][flip[1]] ^= 1
        return trace

    monkeypatch.setattr(sim_run, "torch_reference", flipped)
    out = str(d / f"pace-{bool(flip)}")
    sim_run.simulate(net, 12, out, run_dir=run, record=("spikes",), chunk=5)
    res, want, c, ir, x, tor = _record_oracle(out)
    assert C.to_dict(want) == res["parity"]
    assert (res["parity"]["first_divergence"] is None) == (flip is None)
    if flip:
        layer, (k, *rest) = flip
        assert res["parity"]["first_divergence"]["sample"] == 5 + k
    counts, ops = _oracle_collect(ir, x, tor)
    assert np.array_equal(c["torch_counts"], counts) and np.array_equal(c["torch_synops"], ops)
    assert np.array_equal(c["torch_counts"], c["emulator_counts"]) == (flip is None)
    assert res["timing"]["seconds"] > 0 and res["torch"]["seconds"] > 0
