"""Interrupting a real Lava run: Ctrl-C to the process group (as a terminal sends it), SIGTERM or SIGKILL
to tna-deploy's pid. Every Lava process stops within seconds, no shared-memory segment or temp folder is
left, one line is printed, the exit status is 130 / 143; a run left by a killed process is cleaned up."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from multiprocessing import shared_memory

import pytest

from tna_deploy.simulate.lava.procgroup import PREFIX, clean_stale, group_pids, write_owner

LINUX = sys.platform.startswith("linux") and os.path.isdir("/dev/shm")


def _shm() -> set:
    return set(os.listdir("/dev/shm"))


def _worker_group(tmp: str):
    for d in glob.glob(os.path.join(tmp, PREFIX + "*")):
        try:
            with open(os.path.join(d, "owner.json")) as f:
                pgid = json.load(f).get("pgid")
        except (OSError, ValueError):
            continue
        if pgid:
            return pgid
    return None


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="process groups and /dev/shm as on Linux")
@pytest.mark.parametrize(
    "how", ["ctrl-c", "sigterm", "sigkill", "worker-group-sigint", "worker-group-sigterm"]
)
def test_interrupting_a_lava_run_leaves_nothing(exported, tmp_path, how):
    _, net, _ = exported
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = _shm()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tna_deploy",
            "simulate",
            net,
            "--backend",
            "lava",
            "--samples",
            "all",
            "--input",
            str(_long_input(net, tmp_path)),
            "--out",
            str(tmp_path / "o"),
        ],
        env=dict(os.environ, TMPDIR=str(tmp)),
        start_new_session=True,
        # as from a terminal: a suite started in the background inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pgid, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # until Lava's processes are all up
        pgid = _worker_group(str(tmp))
        if pgid and len(group_pids(pgid)) >= 4 and len(_shm() - before) > 0:
            break
        time.sleep(0.3)
    if not pgid or proc.poll() is not None:
        proc.kill()
        raise AssertionError(
            f"Lava never started: rc {proc.poll()}, {proc.communicate()[1][-500:]}"
        )
    time.sleep(1.0)
    t0 = time.monotonic()
    {
        "ctrl-c": lambda: os.killpg(proc.pid, signal.SIGINT),
        "sigterm": lambda: os.kill(proc.pid, signal.SIGTERM),
        "sigkill": lambda: os.kill(proc.pid, signal.SIGKILL),
        # the signal sent to Lava's own process group (the worker and its forks), not to tna-deploy
        "worker-group-sigint": lambda: os.killpg(pgid, signal.SIGINT),
        "worker-group-sigterm": lambda: os.killpg(pgid, signal.SIGTERM),
    }[how]()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # say where it hangs: the CLI prints its stacks on SIGUSR1
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        raise AssertionError("simulate did not stop:\n" + proc.communicate()[1][-4000:]) from None
    took = (
        time.monotonic() - t0
    )  # about 1 s on a quiet machine; once 53 s in a loaded CI rehearsal (ctrl-c)
    assert took < 60, took
    if how != "sigkill":
        assert proc.returncode == 143 if how.endswith("sigterm") else 130, (proc.returncode, err)
        assert err.count("\n") == 1 and err.startswith("interrupted:") and "Traceback" not in err, (
            err
        )
    deadline = time.monotonic() + 10  # after a SIGKILL, the worker notices on its own
    while time.monotonic() < deadline and (group_pids(pgid) or os.listdir(tmp) or _shm() - before):
        time.sleep(0.2)
    assert group_pids(pgid) == [], "Lava processes outlived the interrupt"
    assert not (_shm() - before), "shared memory left behind"
    assert os.listdir(tmp) == [], "temp files left behind"
    assert not os.path.exists(tmp_path / "o" / "results.json")


def _long_input(net, tmp_path):
    """Enough samples that Lava runs for minutes (the test interrupts it after seconds)."""
    import numpy as np

    from tna_deploy.ir import read_netx

    ir = read_netx(net)
    x = (
        np.random.default_rng(0)
        .integers(0, 16, (3000, *ir.input_shape, ir.timesteps))
        .astype(np.uint8)
    )
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


@pytest.mark.skipif(not LINUX, reason="process groups and /dev/shm as on Linux")
def test_a_run_left_by_a_killed_process_is_cleaned_up_and_named(tmp_path):
    d = tmp_path / (PREFIX + "dead")
    d.mkdir(mode=0o700)  # private, as mkdtemp makes it
    # stands in for a Lava worker: this user's process, with the run folder in its command line
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(d)], start_new_session=True
    )
    seg = shared_memory.SharedMemory(create=True, size=4096)
    seg.close()
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_owner(str(d), dict(parent=dead.pid, pgid=orphan.pid, started=0))
    (d / "shm.txt").write_text(seg._name.lstrip("/") + "\n")
    alive = tmp_path / (PREFIX + "alive")  # a folder whose owner still runs is left alone
    alive.mkdir(mode=0o700)
    write_owner(str(alive), dict(parent=os.getpid(), pgid=None, started=0))
    try:
        notes = clean_stale(str(tmp_path))
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert not os.path.exists(d) and os.path.exists(alive)
        assert seg._name.lstrip("/") not in _shm()
        assert (
            len(notes) == 1
            and str(dead.pid) in notes[0]
            and "1 processes, 1 shared-memory segments" in notes[0]
        )
    finally:
        if orphan.poll() is None:
            orphan.kill()
        try:
            seg.unlink()
        except FileNotFoundError:
            pass
