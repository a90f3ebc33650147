"""Slow: the issue's acceptance runs, as separate processes, on real Fashion-MNIST and a real kill."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import TINY_ARCH

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
EXE = os.path.join(os.path.dirname(sys.executable), "tna-deploy")


def cli(*args, **kw):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=1200, **kw)


@pytest.mark.slayer
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(FMNIST), reason="Debian dataset-fashion-mnist not installed")
def test_issue_command_on_real_fashion_mnist(tmp_path):
    out = str(tmp_path / "x")
    t0 = time.time()
    res = cli(
        "train",
        "--dataset",
        "fashion-mnist",
        "--method",
        "tna",
        "--weights",
        "ternary",
        "--quantize-epoch",
        "1",
        "--epochs",
        "2",
        "--width",
        "0.125",
        "--limit-train",
        "2000",
        "--limit-test",
        "500",
        "--batch-size",
        "64",
        "--out",
        out,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert time.time() - t0 < 600
    ev = json.loads(cli("evaluate", out, "--json").stdout)
    assert ev["compressed"] and ev["samples"] == 500
    assert ev["test_acc_base"] > 20.0  # well above chance (10 %) after 2 short epochs
    for row in ev["base_layers"]:
        if row["role"] == "middle":
            assert row["distinct"] == 3 and row["mode"] == "ternary", row
    assert all(r["distinct"] > 3 for r in ev["twin_layers"] if r["role"] == "middle")


@pytest.mark.slayer
@pytest.mark.slow
def test_killed_process_resumes_to_the_same_result(fmnist_dir, tmp_path):
    args = [
        "train",
        "--data-dir",
        fmnist_dir,
        "--arch",
        TINY_ARCH,
        "--timesteps",
        "3",
        "--limit-train",
        "96",
        "--limit-test",
        "32",
        "--batch-size",
        "16",
        "--epochs",
        "3",
        "--quantize-epoch",
        "1",
    ]
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    assert cli(*args, "--out", full).returncode == 0
    proc = subprocess.Popen(
        [EXE, *args, "--out", cut], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ckpt = os.path.join(cut, "checkpoint.pt")
    deadline = time.time() + 300
    while not os.path.exists(ckpt) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: mid-epoch 2 (or wherever it is)
    proc.wait()
    res = cli("train", "--out", cut, "--resume")
    assert res.returncode == 0, res.stderr[-2000:]
    a = torch.load(os.path.join(full, "checkpoint.pt"), weights_only=True)
    b = torch.load(ckpt, weights_only=True)
    assert a["epoch"] == b["epoch"] == 3
    for k in a["base"]:
        assert torch.equal(a["base"][k], b["base"][k]), k
    assert all(torch.equal(a["twins"][0][k], b["twins"][0][k]) for k in a["twins"][0])

    def strip(rows):
        return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]

    ra = [json.loads(x) for x in open(os.path.join(full, "metrics.jsonl"))]
    rb = [json.loads(x) for x in open(os.path.join(cut, "metrics.jsonl"))]
    assert strip(ra) == strip(rb)
    assert not [f for f in os.listdir(cut) if f.startswith(".tmp-")]  # no half-written files left
