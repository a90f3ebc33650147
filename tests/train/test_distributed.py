"""torchrun with 2 CPU processes (gloo): each rank takes half of every batch, and the result equals one
process taking the whole batch."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

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


@pytest.mark.slayer
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


def _children(pid: int) -> list:
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.split("/")[2]))
    return out


@pytest.mark.slayer
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc as on Linux")
def test_sigkill_of_torchrun_leaves_no_rank_training(fmnist_dir, tmp_path):
    bindir = os.path.dirname(sys.executable)
    torchrun = [os.path.join(bindir, "torchrun"), "--standalone", "--nproc-per-node", "2"]
    cmd = _train_cmd(torchrun, fmnist_dir, str(tmp_path / "k"))
    cmd[cmd.index("--epochs") + 1] = "500"  # long enough to be killed mid-run
    proc = subprocess.Popen(
        cmd,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    ranks, deadline = [], time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        ranks = _children(proc.pid)
        if len(ranks) == 2 and os.path.exists(tmp_path / "k" / "checkpoint.pt"):
            break  # both ranks run and have finished an epoch
        time.sleep(0.3)
    try:
        assert len(ranks) == 2, f"ranks never started: {proc.poll()} {proc.stderr.read()[-1500:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        alive = ranks
        while time.monotonic() < deadline and alive:
            alive = [p for p in ranks if not _zombie(p)]
            time.sleep(0.2)
        assert not alive, "ranks kept training after torchrun was killed"
    finally:
        for p in ranks:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
