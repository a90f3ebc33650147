"""A dense synapse's sums over its nonzero inputs (``synapses/events.py``, ``csrc/dense_events.cpp``) equal
the matrix product wherever the caller's dtype makes every partial sum an exact integer: 0/1 and graded
inputs, negative values, float32 up to 2^24 and float64 past it, rows all zero or all active."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tna_deploy.engine import kinds_ext
from tna_deploy.engine.synapses import events

pytestmark = pytest.mark.skipif(kinds_ext.get() is None, reason="no C++ build of the fused kinds")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("density", [0.05, 0.3])  # the event loop, then BLAS (events.DENSE_ABOVE)
def test_event_sums_equal_the_matrix_product(dtype, graded, density):
    rng = np.random.default_rng(int(graded) + 2 * (dtype == torch.float64))
    t, k, n_in, n_out = 7, 5, 300, 37
    x = (rng.random((t, k, n_in)) < density).astype(np.float64)
    if graded:
        x *= rng.integers(-200, 201, x.shape)
    x[0, 0] = 0  # a row without events
    x[1, 0] = 1  # a row of only events
    w = rng.integers(-255, 256, (n_out, n_in)).astype(np.float64)
    if dtype == torch.float64:  # sums past float32's integers
        w *= 1 << 20
    flat, wt = torch.from_numpy(x).to(dtype), torch.from_numpy(w)
    cache = {}
    got = events.matmul(flat, wt, cache)
    want = torch.matmul(flat.to(torch.float64), wt.t())
    assert got.dtype == dtype and got.shape == (t, k, n_out)
    assert torch.equal(got.to(torch.float64), want)
    assert float(want.abs().max()) > (2**24 if dtype == torch.float64 else 2**12)
    assert torch.equal(events.matmul(flat, wt, cache), got)  # the cached transposed weights


def test_int64_and_no_build_take_torch(monkeypatch):
    flat = torch.tensor([[1, 0, 2]], dtype=torch.int64)
    w = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    assert events.matmul(flat, w, {}).tolist() == [[7]]
    monkeypatch.setattr(kinds_ext, "get", lambda: None)
    assert events.matmul(flat.to(torch.float32), w, {}).tolist() == [[7.0]]


@pytest.mark.parametrize("density, events_run", [(0.05, True), (0.3, False)])
def test_the_event_loop_runs_below_the_crossover_only(monkeypatch, density, events_run):
    """Sparse inputs go through the event loop, dense ones through BLAS: the same sums either way."""
    lib, calls = kinds_ext.get(), []

    class Spy:
        def dense_events(self, *args):
            calls.append(args)
            return lib.dense_events(*args)

    monkeypatch.setattr(kinds_ext, "get", lambda: Spy())
    x = (torch.rand(40, 200, generator=torch.Generator().manual_seed(1)) < density).float()
    w = torch.randint(-9, 10, (30, 200), generator=torch.Generator().manual_seed(2)).double()
    got = events.matmul(x, w, {})
    assert bool(calls) == events_run
    assert torch.equal(got, torch.matmul(x, w.float().t()))
