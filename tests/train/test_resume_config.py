"""--resume before the first epoch ends starts over from the saved config, and Ctrl-C says what was
saved (issue 10, #3)."""

import json
import os

import pytest
import torch
from click.testing import CliRunner
from helpers import TINY_ARCH, tiny_config

from tna_deploy.cli import main
from tna_deploy.train import loop

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
    "--seed",
    "3",
]


def _cut_in_epoch_1(fmnist_dir, out):
    """What a run stopped in its first epoch leaves: config.json, no checkpoint."""
    with pytest.raises(KeyboardInterrupt):
        loop.train(tiny_config(fmnist_dir, seed=3), out, stop_after_batches=1)
    assert os.path.exists(os.path.join(out, "config.json"))
    assert not os.path.exists(os.path.join(out, "checkpoint.pt"))


@pytest.mark.slayer
def test_resume_without_checkpoint_uses_the_saved_config(fmnist_dir, tmp_path):
    out = str(tmp_path / "run")
    _cut_in_epoch_1(fmnist_dir, out)
    res = CliRunner().invoke(
        main, ["train", "--out", out, "--resume"]
    )  # no flags: all from config.json
    assert res.exit_code == 0, res.stderr
    assert "2 epochs" in res.stdout
    ckpt = torch.load(os.path.join(out, "checkpoint.pt"), weights_only=True)
    assert (
        ckpt["config"]["arch"] == TINY_ARCH
        and ckpt["config"]["limit_train"] == 64
        and ckpt["epoch"] == 2
    )
    assert json.load(open(os.path.join(out, "config.json")))["arch"] == TINY_ARCH


@pytest.mark.slayer
def test_resume_without_checkpoint_refuses_conflicting_flags(fmnist_dir, tmp_path):
    out = str(tmp_path / "run")
    _cut_in_epoch_1(fmnist_dir, out)
    before = open(os.path.join(out, "config.json")).read()
    for args, word in ((["--epochs", "5"], "epochs"), (["--arch", "8FC"], "arch")):
        res = CliRunner().invoke(main, ["train", "--out", out, "--resume", *args])
        assert res.exit_code == 2 and "Traceback" not in res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "different config" in lines[0] and word in lines[0], res.stderr
    assert open(os.path.join(out, "config.json")).read() == before  # not overwritten
    # a flag equal to the saved value, or the paper default given explicitly, is no conflict
    res = CliRunner().invoke(
        main, ["train", "--out", out, "--resume", "--epochs", "2", "--alpha", "1e-4"]
    )
    assert res.exit_code == 0, res.stderr


def test_broken_config_json_is_one_line(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"arch": 3')
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume"])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and "config.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.slayer
@pytest.mark.parametrize(
    "stop, words",
    [
        (1, "no epoch finished yet, only the config is saved"),  # in epoch 1
        (3, "the last finished epoch is saved"),  # in epoch 2 (2 batches an epoch)
        (None, "before anything was saved"),  # while loading the data
    ],
)
def test_interrupt_message_tells_what_was_saved(fmnist_dir, tmp_path, monkeypatch, stop, words):
    real = loop.train
    if stop is None:
        monkeypatch.setattr(
            loop, "load_split", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt())
        )
    else:
        monkeypatch.setattr(loop, "train", lambda *a, **k: real(*a, stop_after_batches=stop, **k))
    res = CliRunner().invoke(
        main, ["train", "--data-dir", fmnist_dir, *TINY, "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 130
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("interrupted")]
    assert len(lines) == 1 and words in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_stale_config_of_an_older_run_is_not_claimed(fmnist_dir, tmp_path, monkeypatch):
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text("{}")
    os.utime(out / "config.json", (0, 0))
    monkeypatch.setattr(loop, "load_split", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    res = CliRunner().invoke(main, ["train", "--data-dir", fmnist_dir, *TINY, "--out", str(out)])
    assert res.exit_code == 130 and "before anything was saved" in res.stderr
