"""A disk that fills up during a command's final write, or a Ctrl-C there, leaves the previous artifact
intact and nothing half-written, and says so in one line (issue 22, item 6). On a real small tmpfs when
the tests run as root (mounting needs it), and with the write failing on purpose everywhere."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys

import pytest

from tna_deploy.atomic import verify_set


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tna_deploy", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def _one_line(res, *words):
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


def _leftovers(folder) -> list:
    return sorted(n for n in os.listdir(folder) if n.startswith(".tmp-"))


@pytest.fixture
def small_disk(tmp_path):
    """A 400 kB tmpfs (root only), filled up to ``leave`` free bytes by ``fill(leave)``."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        pytest.skip("mounting a small tmpfs needs root on Linux")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode()[:80]}")

    def fill(leave: int) -> None:
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        with open(mnt / "filler", "ab") as f:
            f.write(b"\0" * max(0, free - leave))

    try:
        yield mnt, fill
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_every_final_write_on_a_full_disk_is_one_line_and_keeps_the_previous_artifact(
    exported, small_disk, tmp_path
):
    run, net, _ = exported
    mnt, fill = small_disk
    assert _cli("simulate", net, "--samples", "4", "--out", mnt / "s").returncode == 0
    assert _cli("report", mnt / "s", "--out", mnt / "r").returncode == 0
    before = {p: open(mnt / p, "rb").read() for p in ("s/results.json", "r/report.json")}
    fill(24 << 10)  # room for the --out probe, not for the outputs
    res = _cli("simulate", net, "--samples", "200", "--record", "spikes", "--out", mnt / "s")
    _one_line(res, "could not write the results (No space left on device)", "complete in")
    verify_set(str(mnt / "s"), "simulate", ("results.json",))  # the previous set, whole
    rescue = res.stderr.split("complete in ")[1].split(":")[0]
    verify_set(rescue, "simulate", ("results.json", "spikes.npz"))  # the new one, kept elsewhere
    shutil.rmtree(rescue)
    _one_line(
        _cli("report", tmp_path_sim(exported, tmp_path), "--out", mnt / "r"),
        "could not write the report",
    )
    verify_set(str(mnt / "r"), "report", ("report.json",))
    for fmt in ("netx", "onnx", "nir"):
        src = run if fmt == "netx" else net
        res = _cli("export", src, "--format", fmt, "--out", mnt / f"x.{fmt}")
        _one_line(
            res, f"x.{fmt}: could not write it (No space left on device)", "nothing was written"
        )
        assert not (mnt / f"x.{fmt}").exists()
    assert {p: open(mnt / p, "rb").read() for p in before} == before
    for folder in (mnt, mnt / "s", mnt / "r"):
        assert _leftovers(folder) == [], folder


def tmp_path_sim(exported, tmp_path):
    """A finished simulation (on the normal disk) for a report to read, with many samples so its
    report differs from the one on the small disk."""
    _, net, _ = exported
    out = tmp_path / "sim-big"
    if not out.exists():
        assert _cli("simulate", net, "--samples", "6", "--out", out).returncode == 0
    return out


@pytest.mark.parametrize("failure", ["disk-full", "ctrl-c"])
def test_a_failed_or_interrupted_set_write_leaves_the_previous_set(
    exported, tmp_path, monkeypatch, failure
):
    import tna_deploy.atomic as atomic
    from tna_deploy.simulate.run import SimulationError, simulate

    _, net, _ = exported
    out = tmp_path / "s"
    simulate(net, 3, str(out))
    before = {n: open(out / n, "rb").read() for n in os.listdir(out)}
    real, calls = atomic.write_npz, []

    def breaks_on_the_second(f, arrays):
        calls.append(1)
        if len(calls) >= 2:  # the rescue folder's set fails too
            if failure == "ctrl-c":
                raise KeyboardInterrupt()
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, arrays)

    monkeypatch.setattr(atomic, "write_npz", breaks_on_the_second)
    if failure == "ctrl-c":
        with pytest.raises(KeyboardInterrupt):
            simulate(net, 5, str(out), record=("spikes",))
    else:
        with pytest.raises(SimulationError, match="could not write the results .* nor to") as e:
            simulate(net, 5, str(out), record=("spikes",))
        rescue = str(e.value).split("nor to ")[1].split(";")[0]
        assert not os.path.exists(rescue), "an empty rescue folder was left behind"
    assert {n: open(out / n, "rb").read() for n in os.listdir(out)} == before
    verify_set(str(out), "simulate", ("results.json", "counts.npz"))
    assert _leftovers(out) == []
