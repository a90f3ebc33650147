"""The CLI end to end on tiny runs, and every bad input as one line with a non-zero exit."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import TINY_ARCH

from tna_deploy.cli import main

TINY = [
    "--arch",
    TINY_ARCH,
    "--timesteps",
    "3",
    "--limit-train",
    "64",
    "--limit-test",
    "32",
    "--batch-size",
    "32",
    "--epochs",
    "2",
    "--quantize-epoch",
    "1",
]


def run(args):
    return CliRunner().invoke(main, args)


def one_line_error(res, *words):
    assert res.exit_code != 0, res.stdout
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.slayer
def test_train_then_evaluate(fmnist_dir, tmp_path):
    out = str(tmp_path / "run")
    res = run(["train", "--data-dir", fmnist_dir, *TINY, "--out", out])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("trained tna/ternary on fashion-mnist: 2 epochs")
    assert "epoch 2/2" in res.stderr and "[compressed]" in res.stderr
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["alpha"] == 1e-4 and cfg["quantize_epoch"] == 1 and cfg["meta"]["n_classes"] == 10
    ev = run(["evaluate", out, "--json"])
    assert ev.exit_code == 0, ev.stderr
    data = json.loads(ev.stdout)
    middle = [r for r in data["base_layers"] if r["role"] == "middle"]
    assert middle and all(r["distinct"] == 3 and r["mode"] == "ternary" for r in middle)
    assert all(r["distinct"] > 3 for r in data["twin_layers"] if r["role"] == "middle")
    table = run(["evaluate", out])
    assert "ternary" in table.stdout and "base" in table.stdout
    # --resume of a finished run with no flags: nothing to do, same summary
    again = run(["train", "--out", out, "--resume"])
    assert again.exit_code == 0 and "2 epochs" in again.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--alpha", "-1"], ["--alpha must be >= 0"]),
        (["--quantize-epoch", "7"], ["beyond --epochs 2"]),
        (["--arch", "12Q3-8FC"], ["--arch token 1", "12Q3"]),
        (["--method", "kd"], ["--teacher"]),
    ],
)
def test_bad_training_flags(fmnist_dir, tmp_path, args, words):
    res = run(["train", "--data-dir", fmnist_dir, *TINY, *args, "--out", str(tmp_path / "r")])
    one_line_error(res, *words)
    assert not os.path.exists(tmp_path / "r")  # nothing half-written


def test_unknown_dataset_is_refused(tmp_path):
    res = run(["train", "--dataset", "imagenet", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "imagenet" in res.stderr and "Traceback" not in res.stderr


def test_missing_data(tmp_path, monkeypatch):
    pytest.importorskip("torchvision", reason="torchvision comes with the train extra")
    monkeypatch.setenv("TNA_FASHION_MNIST_DIR", str(tmp_path / "none"))
    import torchvision.datasets as tvd

    monkeypatch.setattr(
        tvd, "FashionMNIST", lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))
    )
    res = run(["train", "--data-dir", str(tmp_path / "empty"), *TINY, "--out", str(tmp_path / "r")])
    one_line_error(res, "Fashion-MNIST not found", "dataset-fashion-mnist")


@pytest.mark.slayer
def test_resume_conflict_and_corrupt_checkpoint(fmnist_dir, tmp_path):
    out = str(tmp_path / "r")
    assert (
        run(
            [
                "train",
                "--data-dir",
                fmnist_dir,
                *TINY,
                "--epochs",
                "1",
                "--quantize-epoch",
                "0",
                "--out",
                out,
            ]
        ).exit_code
        == 0
    )
    one_line_error(
        run(
            [
                "train",
                "--data-dir",
                fmnist_dir,
                *TINY,
                "--epochs",
                "1",
                "--quantize-epoch",
                "0",
                "--out",
                out,
            ]
        ),
        "already holds a run",
        "--resume",
    )
    one_line_error(
        run(["train", "--out", out, "--resume", "--lr", "0.5"]), "different config", "lr"
    )
    ckpt = os.path.join(out, "checkpoint.pt")
    with open(ckpt, "r+b") as f:
        f.truncate(1000)
    one_line_error(run(["evaluate", out]), "checkpoint.pt", "corrupt")
    one_line_error(run(["evaluate", str(tmp_path / "nothing")]), "no checkpoint")


@pytest.mark.slayer
def test_nan_loss_via_cli(fmnist_dir, tmp_path, monkeypatch):
    import tna_deploy.train.losses as losses

    real = losses.tna_loss

    def poisoned(*a, **k):
        p = real(*a, **k)
        p.total = p.total * float("inf") * 0
        return p

    monkeypatch.setattr(losses, "tna_loss", poisoned)
    res = run(["train", "--data-dir", fmnist_dir, *TINY, "--out", str(tmp_path / "n")])
    one_line_error(res, "loss became nan", "lower --lr")
    assert res.exit_code == 3


def test_console_script_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "tna-deploy")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "train" in out.stdout and "evaluate" in out.stdout


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback_behind_a_one_line_error(tmp_path, how):
    args = ["simulate", str(tmp_path / "missing.net"), "--out", str(tmp_path / "o")]
    plain = subprocess.run(
        [sys.executable, "-m", "tna_deploy", *args], capture_output=True, text=True
    )
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.net'}: no such file"]
    argv = ["--debug", *args] if how == "flag" else args
    env = dict(os.environ, TNA_DEBUG="1") if how == "env" else dict(os.environ)
    debug = subprocess.run(
        [sys.executable, "-m", "tna_deploy", *argv], capture_output=True, text=True, env=env
    )
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr and 'File "' in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()
