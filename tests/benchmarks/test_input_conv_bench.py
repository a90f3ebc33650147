"""benchmarks/input_conv.py on a few frames: both sides are checked equal bit for bit before they are
timed, one ratio per shape, and the result file names what it ran on."""

import importlib.util
import json
import os
import sys

import pytest
import torch

from tna_deploy.engine import cuba_ext

HERE = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")

pytestmark = pytest.mark.skipif(cuba_ext.get() is None, reason="no C++ build of the fused kernels")


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(HERE)  # it imports spike_conv's timing and writer
    spec = importlib.util.spec_from_file_location(
        "input_conv_bench", os.path.join(HERE, "input_conv.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "FRAMES", 6)
    yield mod
    sys.modules.pop("spike_conv", None)


def test_shapes_are_checked_timed_and_saved(bench, monkeypatch, tmp_path):
    from tna_deploy import memory

    monkeypatch.setattr(memory, "keep_freed_pages", lambda: None)  # not for the whole test process
    monkeypatch.setattr(bench, "SHAPES", [(1, 32, 3, 1), (2, 8, 5, 2)])
    out = tmp_path / "input_conv.json"
    monkeypatch.setattr(sys, "argv", ["input_conv.py", "--repeat", "1", "--out", str(out)])
    bench.main()
    result = json.loads(out.read_text())
    assert result["benchmark"] == "input_conv" and result["frames"] == 6
    assert [
        (r["in_channels"], r["out_channels"], r["kernel"], r["stride"]) for r in result["rows"]
    ] == [
        (1, 32, 3, 1),
        (2, 8, 5, 2),
    ]
    assert all(r["onednn_ms"] > 0 and r["ours_ms"] > 0 and r["speedup"] > 0 for r in result["rows"])


def test_a_wrong_forward_stops_the_benchmark(bench, monkeypatch):
    """The timing is only reported for sides that compute the same numbers."""
    from tna_deploy.models import fast_input_conv

    monkeypatch.setattr(fast_input_conv, "dense", lambda h, w, g: torch.zeros(1))
    with pytest.raises(AssertionError, match="differs"):
        bench.one(1, 32, 3, 1, repeat=1)
