"""A stage's output appears complete or not at all: simulate and report write output sets with a manifest,
report refuses an incomplete or mixed simulate folder by name, a full or unwritable --out fails before the
work (or, at the end, keeps the results elsewhere and says where), and stale temp files are cleared."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from tna_deploy.atomic import MANIFEST, atomic_write, clean_stale_temps, verify_set
from tna_deploy.errors import CheckpointError, ConfigError
from tna_deploy.simulate import results as sim_results
from tna_deploy.simulate import run as sim_run
from tna_deploy.simulate.run import SimulationError, simulate


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tna_deploy", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def sims(exported, tmp_path_factory):
    _, net, _ = exported
    d = tmp_path_factory.mktemp("sets")
    simulate(net, 4, str(d / "a"), record=("spikes",))
    simulate(net, 6, str(d / "b"))
    return net, d


def test_simulate_writes_a_verified_set_and_replaces_its_previous_one(sims, tmp_path):
    net, d = sims
    m = verify_set(str(d / "a"), "simulate", ("results.json", "counts.npz"))
    assert set(m["files"]) == {"results.json", "counts.npz", "spikes.npz"}
    out = tmp_path / "again"
    shutil.copytree(d / "a", out)
    (out / "notes.txt").write_text("mine")
    simulate(net, 3, str(out))  # no --record now: the old spikes.npz must go
    assert not (out / "spikes.npz").exists() and (out / "notes.txt").read_text() == "mine"
    assert set(verify_set(str(out), "simulate")["files"]) == {"results.json", "counts.npz"}


def test_report_refuses_an_incomplete_or_mixed_simulation_by_name(sims, tmp_path):
    net, d = sims
    incomplete = tmp_path / "incomplete"
    shutil.copytree(d / "a", incomplete)
    os.unlink(incomplete / MANIFEST)  # simulate killed before it finished
    mixed = tmp_path / "mixed"
    shutil.copytree(d / "a", mixed)
    shutil.copy(
        d / "b" / "counts.npz", mixed / "counts.npz"
    )  # counts of a 6-sample run, results of 4
    for folder, words in (
        (incomplete, "incomplete simulate output"),
        (mixed, "counts.npz: not the file"),
    ):
        with pytest.raises(CheckpointError, match=words):
            verify_set(str(folder), "simulate", ("results.json", "counts.npz"))
        r = _cli("report", str(folder), "--out", str(tmp_path / "r"))
        assert (
            r.returncode == 2 and r.stderr.count("\n") == 1 and words.split(":")[0] in r.stderr
        ), r.stderr
        assert not os.path.exists(tmp_path / "r" / "report.json")
    r = _cli("report", str(d / "b"), "--out", str(tmp_path / "r"), "--format", "json,md")
    assert r.returncode == 0, r.stderr
    assert set(verify_set(str(tmp_path / "r"), "report")["files"]) == {"report.json", "report.md"}


def test_an_unwritable_out_fails_before_the_work(sims, tmp_path, monkeypatch):
    net, d = sims
    blocker = tmp_path / "file"
    blocker.write_text("x")
    ran = []
    monkeypatch.setattr(sim_run, "read_netx", lambda *a: ran.append(1))
    with pytest.raises(ConfigError, match="cannot write there"):
        simulate(net, 2, str(blocker / "out"))
    assert not ran  # refused before reading or running anything
    r = _cli("simulate", net, "--samples", "2", "--out", str(blocker / "out"))
    assert r.returncode == 2 and r.stderr.startswith("error: --out") and r.stderr.count("\n") == 1

    real = os.write

    def full(fd, data):  # the disk is full: the probe's write fails
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(ConfigError, match="No space left on device"):
        sim_run.check_writable(str(tmp_path / "full"))
    monkeypatch.setattr(os, "write", real)


def test_a_failed_final_write_keeps_the_results_elsewhere(sims, tmp_path, monkeypatch):
    net, _ = sims
    real = sim_results._write_set
    target = str(tmp_path / "out")

    def write_set(folder, files, text):
        if folder == target:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(folder, files, text)

    monkeypatch.setattr(sim_results, "_write_set", write_set)
    with pytest.raises(SimulationError, match="they are complete in") as e:
        simulate(net, 3, target)
    rescue = str(e.value).split("complete in ")[1].split(":")[0]
    try:
        m = verify_set(rescue, "simulate")
        assert (
            json.load(open(os.path.join(rescue, "results.json")))["samples"] == 3
            and "counts.npz" in m["files"]
        )
    finally:
        shutil.rmtree(rescue, ignore_errors=True)


def test_temp_files_of_dead_writers_are_cleared_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f".tmp-{dead.pid}-abc").write_text("half")
    (tmp_path / f".tmp-{os.getpid()}-live").write_text("being written")
    (tmp_path / ".tmp-notes").write_text("not ours")
    atomic_write(str(tmp_path / "x.json"), lambda f: f.write(b"{}"))
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f".tmp-{os.getpid()}-live", ".tmp-notes", "x.json"]
    )
    assert clean_stale_temps(str(tmp_path)) == []


def test_an_export_interrupted_while_netx_checks_it_leaves_nothing(exported, tmp_path, monkeypatch):
    from tna_deploy.export import netx as nx

    run, _, _ = exported

    def interrupted(path, meta):
        assert os.path.basename(path).startswith(
            ".tmp-"
        )  # netx checks the temp file, not the target
        raise KeyboardInterrupt

    monkeypatch.setattr(nx, "netx_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nx.to_netx(run, str(tmp_path / "e" / "net.net"))
    assert os.listdir(tmp_path / "e") == []


def test_report_refuses_a_netx_file_other_than_the_one_simulated(sims, tmp_path):
    import h5py

    net, d = sims
    other = tmp_path / "other.net"
    shutil.copy(net, other)
    with h5py.File(other, "a") as h:  # same layers and shapes, another file (a re-export, say)
        h.attrs["source_run"] = "elsewhere"
    r = _cli("report", str(d / "b"), "--netx", str(other), "--out", str(tmp_path / "r"))
    assert (
        r.returncode == 2
        and "is not the file the simulation" in r.stderr
        and r.stderr.count("\n") == 1
    )
