"""Without Lava (CPython 3.11+, or no lava extra): the Lava-free suite's block holds, in this process and
in every Python it starts, and each command that needs Lava or SLAYER says so in one line (which extra,
which Python); everything else runs the committed example (examples/small) as on CPython 3.10."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import no_lava, no_slayer

from tna_deploy import lava_import
from tna_deploy.cli import main
from tna_deploy.errors import ConfigError

EX = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples", "small")
LAVA_FREE = os.environ.get("TNA_LAVA_FREE") == "1"


@pytest.mark.skipif(not LAVA_FREE, reason="the block is on in make test-lavafree (TNA_LAVA_FREE=1)")
def test_every_lava_import_is_blocked_here_and_in_the_pythons_the_tests_start():
    for name in ("lava", "lava.magma.core.run_configs", "lava.lib.dl.slayer", "lava.lib.dl.netx"):
        with pytest.raises(ImportError, match="blocked"):
            __import__(name)
    r = subprocess.run(
        [sys.executable, "-c", "import lava.lib.dl.slayer"], capture_output=True, text=True
    )
    assert r.returncode != 0 and "blocked: the Lava-free suite" in r.stderr
    assert no_lava() and no_slayer()
    assert not [m for m in sys.modules if m == "lava" or m.startswith("lava.")]


def _on(monkeypatch, version):
    monkeypatch.setattr(
        lava_import, "sys", types.SimpleNamespace(version_info=version, modules=sys.modules)
    )


def test_lava_on_a_newer_python_is_refused_naming_the_extra_and_the_python(monkeypatch):
    _on(monkeypatch, (3, 12, 1))
    why = lava_import.missing("lava.lib.dl.netx", "simulate --backend lava")
    assert why == (
        "simulate --backend lava needs Lava (lava-nc 0.10, lava-dl 0.6), which runs on CPython 3.10 "
        "only, not 3.12: in a Python 3.10 venv, pip install 'tna-deploy[lava]'"
    )
    with pytest.raises(ConfigError, match="CPython 3.10 only, not 3.12"):
        lava_import.quiet_import("lava.lib.dl.netx", "simulate --backend lava")


def test_slayer_missing_says_how_to_get_it_on_each_python(monkeypatch):
    monkeypatch.setattr(lava_import, "_findable", lambda name: False)
    _on(monkeypatch, (3, 10, 13))
    assert lava_import.missing(lava_import.SLAYER, "train") == (
        "train needs lava-dl's SLAYER: pip install 'tna-deploy[train]'"
    )
    _on(monkeypatch, (3, 13, 0))
    assert "declares Python <3.11, so the train extra leaves it out on 3.13" in lava_import.missing(
        lava_import.SLAYER, "train"
    )


def _cli(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.skipif(no_lava() is None, reason="Lava runs here")
def test_simulate_with_lava_missing_is_one_line(tmp_path):
    r = _cli(*r_args(tmp_path, "lava"))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.output, r.stderr
    assert "needs Lava" in r.stderr and "tna-deploy[lava]" in r.stderr


def r_args(tmp_path, backend):
    return [
        "simulate",
        f"{EX}/small.net",
        "--input",
        f"{EX}/input.npy",
        "--backend",
        backend,
        "--out",
        str(tmp_path / backend),
    ]


@pytest.mark.skipif(no_slayer() is None, reason="SLAYER imports here")
def test_train_with_slayer_missing_is_one_line(tmp_path, fmnist_dir):
    r = _cli("train", "--preset", "cpu", "--data-dir", fmnist_dir, "--out", str(tmp_path / "run"))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "needs lava-dl's SLAYER" in r.stderr


def test_the_committed_netx_file_gives_the_results_of_python_310(tmp_path):
    """examples/small was simulated on CPython 3.10 (scripts/make_example.py); here the emulator gives
    the same predictions and logits, and so does its ONNX export in onnxruntime."""
    pytest.importorskip("onnxruntime", reason="onnxruntime comes with the onnx extra")
    want = json.load(open(f"{EX}/expected.json"))
    assert _cli(*r_args(tmp_path, "emulator")).exit_code == 0
    onnx, o = str(tmp_path / "small.onnx"), str(tmp_path / "o")
    assert _cli("export", f"{EX}/small.net", "--format", "onnx", "--out", onnx).exit_code == 0
    r = _cli(
        "simulate", onnx, "--input", f"{EX}/input.npy", "--backend", "onnx,emulator", "--out", o
    )
    assert r.exit_code == 0, r.stderr
    for sim, src in (("emulator", "emulator"), ("o", "onnx"), ("o", "emulator")):
        got = json.load(open(tmp_path / sim / "results.json"))[src]["predictions"]
        logits = np.load(tmp_path / sim / "counts.npz")[f"{src}_logits"]
        assert got == want["predictions"] and np.array_equal(logits, want["logits"]), (sim, src)
