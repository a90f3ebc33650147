"""An --out is locked for the command's life, never one of the command's inputs, and a manifest never
makes tna-deploy delete a file it did not write (issue 22, item 4 and the nested-manifest case of item 6)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tna_deploy.atomic import MANIFEST, OutputSet, out_lock, verify_set
from tna_deploy.errors import ConfigError
from tna_deploy.simulate.run import simulate


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tna_deploy", *args], capture_output=True, text=True, cwd=cwd
    )


def _one_line(res, *words):
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


@pytest.fixture(scope="module")
def sim(exported, tmp_path_factory):
    run, net, _ = exported
    d = tmp_path_factory.mktemp("guards")
    simulate(net, 3, str(d / "sim"))
    return run, net, d


def test_a_second_writer_of_one_out_is_refused_while_the_first_holds_it(sim, tmp_path):
    _, net, _ = sim
    out = tmp_path / "busy"
    with out_lock(str(out)):  # another tna-deploy holds the folder (here: this process)
        res = _cli("simulate", net, "--samples", "2", "--out", str(out))
        _one_line(res, f"--out {out}", "another tna-deploy is writing there")
        rep = _cli("report", str(sim[2] / "sim"), "--out", str(out))
        _one_line(rep, "another tna-deploy is writing there")
        assert os.listdir(out) == []
    res = _cli("simulate", net, "--samples", "2", "--out", str(out))  # released: it runs
    assert res.returncode == 0, res.stderr
    verify_set(str(out), "simulate", ("results.json",))


def test_the_lock_is_shared_within_one_process_and_released_after(tmp_path):
    out = str(tmp_path / "o")
    with out_lock(out):
        s = OutputSet(out, "report")  # the command's own set: no self-deadlock
        s.write("a.txt", lambda f: f.write(b"x"))
        s.close()
    with out_lock(out):
        pass
    assert not os.path.exists(tmp_path / "never")
    with out_lock(str(tmp_path / "never" / "made")):
        pass
    assert not os.path.exists(tmp_path / "never"), "a folder made only for the lock stays behind"


def test_a_read_only_parent_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="cannot write there"):
        with out_lock(str(ro / "x")):
            pass


def test_report_into_the_simulation_it_reads_is_refused(sim):
    _, _, d = sim
    before = sorted(os.listdir(d / "sim"))
    _one_line(_cli("report", str(d / "sim"), "--out", str(d / "sim")), "is the input")
    _one_line(_cli("report", str(d / "sim"), "--out", str(d)), "contains the input")
    assert sorted(os.listdir(d / "sim")) == before
    verify_set(str(d / "sim"), "simulate", ("results.json", "counts.npz"))


def test_export_over_its_own_run_is_refused(sim):
    run, net, _ = sim
    ckpt = os.path.join(run, "checkpoint.pt")
    before = open(ckpt, "rb").read()
    for fmt in ("netx", "onnx"):
        res = _cli("export", run, "--format", fmt, "--out", ckpt)
        _one_line(res, "is the input", "checkpoint.pt")
    assert open(ckpt, "rb").read() == before
    _one_line(_cli("simulate", net, "--samples", "1", "--out", os.path.dirname(net)), "contains")
    _one_line(_cli("simulate", net, "--samples", "1", "--run", run, "--out", run), "is the input")


def test_a_manifest_naming_a_users_file_does_not_get_it_deleted(sim, tmp_path):
    _, net, _ = sim
    out = tmp_path / "out"
    out.mkdir()
    precious = out / "thesis.tex"
    precious.write_text("years of work")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    planted = dict(
        format="tna-deploy-output-set",
        stage="simulate",
        files={"thesis.tex": "0" * 64, "../outside.txt": "0" * 64, "results.json": "0" * 64},
    )
    (out / MANIFEST).write_text(json.dumps(planted))
    simulate(net, 2, str(out))
    assert precious.read_text() == "years of work" and outside.read_text() == "keep"
    # even with the right digest, a file of another stage's manifest is not this stage's to delete
    import hashlib

    digest = hashlib.sha256(precious.read_bytes()).hexdigest()
    planted = dict(format="tna-deploy-output-set", stage="report", files={"thesis.tex": digest})
    (out / MANIFEST).write_text(json.dumps(planted))
    simulate(net, 2, str(out))
    assert precious.read_text() == "years of work"


def test_a_deeply_nested_manifest_is_one_line(sim, tmp_path):
    _, _, d = sim
    bad = tmp_path / "nested"
    shutil.copytree(d / "sim", bad)
    (bad / MANIFEST).write_text("[" * 100000 + "]" * 100000)
    res = _cli("report", str(bad), "--out", str(tmp_path / "r"))
    _one_line(res, "incomplete simulate output")
    (bad / MANIFEST).write_text("x" * (2 << 20))
    _one_line(_cli("report", str(bad), "--out", str(tmp_path / "r")), "incomplete simulate output")
