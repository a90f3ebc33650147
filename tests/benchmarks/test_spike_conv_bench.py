"""benchmarks/spike_conv.py on a tiny shape: it checks both sides compute the same numbers before timing
them, and reports one ratio per pair."""

import importlib.util
import os

import pytest
import torch

from tna_deploy.engine import cuba_ext

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "spike_conv.py")


pytestmark = pytest.mark.skipif(cuba_ext.get() is None, reason="no C++ build of the fused kernels")


@pytest.fixture
def bench():
    spec = importlib.util.spec_from_file_location("spike_conv_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_one_shape_is_checked_then_timed(bench, monkeypatch):
    mod = bench
    monkeypatch.setattr(mod, "IMAGES", 12)
    row = mod.one(8, 64, 7, 0.2, repeat=1)
    assert (row["in_channels"], row["out_channels"], row["size"], row["density"]) == (8, 64, 7, 0.2)
    for pair in ("forward", "weight_grad"):
        assert row[pair]["onednn_ms"] > 0 and row[pair]["ours_ms"] > 0 and row[pair]["speedup"] > 0


def test_a_wrong_forward_stops_the_benchmark(bench, monkeypatch):
    """The timing is only reported for sides that compute the same numbers."""
    from tna_deploy.models import fast_spike_conv

    mod = bench
    monkeypatch.setattr(mod, "IMAGES", 4)
    monkeypatch.setattr(fast_spike_conv, "forward", lambda h, w, p, d: torch.zeros(1))
    with pytest.raises(AssertionError, match="differs"):
        mod.one(8, 64, 7, 0.2, repeat=1)
