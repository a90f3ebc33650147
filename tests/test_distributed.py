"""torchrun with 2 CPU processes (gloo): each rank takes half of every batch, and the result equals one
process taking the whole batch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tna_deploy.train.distributed import Ranks

TOL = 1e-5  # max |w_2ranks - w_1process| relative to the layer's max |w|


def test_shares_cover_a_batch_exactly_once():
    for n in (1, 7, 32, 33):
        for world in (1, 2, 3):
            idx = []
            for r in range(world):
                s = Ranks(r, world, r).share(n)
                idx += list(range(n))[s]
            assert idx == list(range(n))


def _train_cmd(launcher, data_dir, out, extra=()):
    flags = [
        "train",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        data_dir,
        "--arch",
        "4C3-AP2-8FC",
        "--width",
        "1",
        "--timesteps",
        "3",
        "--method",
        "tna",
        "--weights",
        "ternary",
        "--quantize-epoch",
        "1",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--limit-train",
        "64",
        "--limit-test",
        "32",
        "--dropout",
        "0",
        "--no-augment",
        "--device",
        "cpu",
        "--out",
        out,
        *extra,
    ]
    return launcher + ["-m", "tna_deploy"] + flags


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(fmnist_dir, tmp_path):
    bindir = os.path.dirname(sys.executable)
    torchrun = [os.path.join(bindir, "torchrun"), "--standalone", "--nproc-per-node", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run(
        _train_cmd([sys.executable], fmnist_dir, str(tmp_path / "one")),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(
        _train_cmd(torchrun, fmnist_dir, str(tmp_path / "two")),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("trained tna/ternary") == 1  # the summary prints once
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    assert b["history"][-1]["processes"] == 2
    for sa, sb in [(a["base"], b["base"])] + list(zip(a["twins"], b["twins"])):
        for k in sa:
            if sa[k].is_floating_point() and sa[k].numel() > 1:
                assert (sa[k] - sb[k]).abs().max() <= TOL * sa[k].abs().max(), k
    for ra, rb in zip(a["history"], b["history"]):
        assert ra["test_acc_base"] == rb["test_acc_base"]
        assert abs(ra["train_loss"] - rb["train_loss"]) < 1e-5
