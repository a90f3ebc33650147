"""The chip model in Lava's CPU simulator equals the PyTorch model spike for spike."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from tna_deploy.cli import main
from tna_deploy.simulate.run import simulate


def test_lava_equals_pytorch_spike_for_spike(exported):
    run, net, d = exported
    res = simulate(net, 6, str(d / "out"), backends=("lava",), run_dir=run)
    p = res["parity"]
    assert p["prediction_agreement_pct"] == 100.0
    assert p["logits_equal"] and p["logits_max_abs_diff"] == 0.0
    assert p["spikes_equal"] and p["spike_counts_equal"] and p["first_divergence"] is None
    assert all(r["lava_spikes"] > 0 for r in p["per_layer"][:3])  # real activity, not silence
    assert res["lava"]["predictions"] == res["torch"]["predictions"]
    saved = json.load(open(d / "out" / "results.json"))
    assert (
        saved["format"] == "tna-deploy-sim"
        and saved["format_version"] == 3
        and saved["samples"] == 6
    )
    counts = np.load(d / "out" / "counts.npz")
    assert counts["lava_counts"].shape == (6, 4, 4) and np.array_equal(
        counts["lava_counts"], counts["torch_counts"]
    )


def test_divergence_is_located(exported, monkeypatch):
    """Corrupt one PyTorch spike: the report must name that layer, timestep and sample."""
    run, net, d = exported
    import tna_deploy.simulate.run as sim_run

    real = sim_run.torch_reference

    def flipped(*a, **k):
        trace = real(*a, **k)
        trace.spikes[1][2, 0, 0, 0, 1] ^= 1
        return trace

    monkeypatch.setattr(sim_run, "torch_reference", flipped)
    p = simulate(net, 3, str(d / "div"), backends=("lava",), run_dir=run)["parity"]
    assert not p["spikes_equal"]
    assert p["first_divergence"] == dict(layer="1:conv", layer_index=1, timestep=1, sample=2)


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all", None])
def test_simulate_bad_file_is_one_line(tmp_path, content):
    path = tmp_path / "bad.net"
    if content is not None:
        path.write_bytes(content)
    res = CliRunner().invoke(
        main, ["simulate", str(path), "--samples", "2", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.net" in lines[0]
    assert not os.path.exists(tmp_path / "o")


@pytest.mark.lava
def test_lava_imports_after_a_multiprocessing_lock():
    """tqdm (and others) fix the start method; Lava's import must still succeed afterwards."""
    import subprocess
    import sys

    code = (
        "import multiprocessing as mp; mp.RLock(); "
        "from tna_deploy.lava_import import quiet_import; quiet_import('lava.lib.dl.netx'); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-500:]


def test_simulate_cli_prints_parity(exported):
    run, net, d = exported
    res = CliRunner().invoke(
        main,
        [
            "simulate",
            net,
            "--samples",
            "2",
            "--backend",
            "lava",
            "--run",
            run,
            "--out",
            str(d / "cli"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    assert "parity lava vs torch: predictions agree 100.0%, logits equal yes" in res.stdout
