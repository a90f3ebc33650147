"""The shared temp directory and the working directory are attacker-writable places: a planted
``tna-lava-*`` folder must make no Lava run kill or delete anything, and no child process may import a
``tna_deploy/`` folder from the working directory (issue 22, items 1 and 2)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing import shared_memory

import pytest

from tna_deploy.childproc import python_command, script_command
from tna_deploy.simulate.lava.procgroup import (
    PREFIX,
    clean_stale,
    private_dir,
    release,
    write_owner,
)

LINUX = sys.platform.startswith("linux") and os.path.isdir("/dev/shm")
pytestmark = pytest.mark.skipif(not LINUX, reason="process groups, /proc and /dev/shm as on Linux")


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


class Victims:
    """What an attacker would like a Lava run to destroy: a process group, a shared-memory segment of
    this user, a ``pymp-*`` folder and a plain file."""

    def __init__(self, tmp_path):
        self.proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
        seg = shared_memory.SharedMemory(create=True, size=4096)
        seg.close()
        self.seg = seg
        self.shm = seg._name.lstrip("/")
        self.pymp = tempfile.mkdtemp(prefix="pymp-")
        self.file = tmp_path / "precious.txt"
        self.file.write_text("keep me")

    def plant(self, d, **owner):
        d.mkdir(mode=0o700, exist_ok=True)
        note = dict(
            parent=_dead_pid(),
            pgid=self.proc.pid,
            started=0,
            shm=[self.shm, "../../" + str(self.file)],
        )
        write_owner(str(d), {**note, **owner})
        (d / "shm.txt").write_text(f"{self.shm}\n{self.file}\n")
        (d / "mp_tmp.txt").write_text(self.pymp)
        return d

    def assert_untouched(self):
        time.sleep(0.2)
        assert self.proc.poll() is None, "a process named in a planted note was killed"
        assert os.path.exists(os.path.join("/dev/shm", self.shm)), (
            "a segment named in a planted note was deleted"
        )
        assert os.path.isdir(self.pymp), "the folder named in a planted mp_tmp.txt was deleted"
        assert self.file.read_text() == "keep me"

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        try:
            self.seg.unlink()
        except FileNotFoundError:
            pass
        shutil.rmtree(self.pymp, ignore_errors=True)


@pytest.fixture
def victims(tmp_path):
    v = Victims(tmp_path)
    yield v
    v.close()


def test_a_folder_of_another_user_is_left_alone(tmp_path, victims):
    d = victims.plant(tmp_path / (PREFIX + "other"))
    try:
        os.chown(d, 65534, 65534)
    except PermissionError:
        pytest.skip("needs root to plant a folder owned by another uid")
    assert clean_stale(str(tmp_path)) == []
    victims.assert_untouched()
    assert d.exists()


@pytest.mark.parametrize("how", ["world-writable", "group-readable", "symlink", "note-is-symlink"])
def test_a_folder_that_is_not_private_is_left_alone(tmp_path, victims, how):
    d = victims.plant(tmp_path / "real")
    name = tmp_path / (PREFIX + how)
    if how == "symlink":
        name.symlink_to(d)
    else:
        d.rename(name)
        if how == "note-is-symlink":  # owner.json points at a note the attacker controls
            (tmp_path / "evil.json").write_text(
                json.dumps(dict(parent=_dead_pid(), pgid=victims.proc.pid))
            )
            os.unlink(name / "owner.json")
            os.symlink(tmp_path / "evil.json", name / "owner.json")
        else:
            os.chmod(name, 0o777 if how == "world-writable" else 0o750)
    assert clean_stale(str(tmp_path)) == []
    victims.assert_untouched()
    assert os.path.lexists(name)


def test_own_private_folder_signals_only_processes_that_prove_to_run_it(tmp_path, victims):
    """Even in this user's own folder a note is not proof: the pgid it names is not this run's worker, the
    file it names is not a shared-memory segment; only the folder itself and Python segments go."""
    d = victims.plant(
        tmp_path / (PREFIX + "mine"), shm=["psm_notours", "../../" + str(victims.file)]
    )
    (d / "shm.txt").write_text(f"{victims.file}\n../etc/passwd\n")
    os.chmod(tmp_path, 0o755)
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(d)], start_new_session=True
    )  # stands in for the run's own worker
    try:
        notes = clean_stale(str(tmp_path))
        assert worker.wait(timeout=5) == -signal.SIGKILL
        assert len(notes) == 1 and "1 processes" in notes[0]
        assert not d.exists()
        victims.assert_untouched()
    finally:
        if worker.poll() is None:
            worker.kill()


def test_release_refuses_a_folder_that_is_not_private(tmp_path, victims):
    d = victims.plant(tmp_path / (PREFIX + "open"))
    os.chmod(d, 0o777)
    assert not private_dir(str(d))
    assert release(str(d)) == (0, 0)
    assert d.exists()
    victims.assert_untouched()


def _planted_cwd(tmp_path):
    cwd = tmp_path / "bundle"
    pkg = cwd / "tna_deploy"
    (pkg / "simulate" / "lava").mkdir(parents=True)
    marker = tmp_path / "PLANTED-CODE-RAN"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    for f in (
        "__init__.py",
        "simulate/__init__.py",
        "simulate/lava/__init__.py",
        "simulate/lava/worker.py",
        "cli.py",
    ):
        (pkg / f).write_text(payload + "def main(*a, **k):\n    pass\n")
    (cwd / "aedat_worker.py").write_text(payload)
    (cwd / "numpy.py").write_text(payload)
    return cwd, marker


def test_child_processes_never_import_the_working_directory(tmp_path):
    cwd, marker = _planted_cwd(tmp_path)
    argv = python_command("tna_deploy.cli", "--version")
    out = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(cwd))
    )
    assert out.returncode == 0 and "tna-deploy" in out.stdout, out.stderr
    script = tmp_path / "probe.py"
    script.write_text(
        "import numpy, tna_deploy.childproc as c\nprint(numpy.__file__, c.PACKAGE_DIR)\n"
    )
    probe = subprocess.run(
        python_command("tna_deploy.childproc")[:3] + [script.read_text()],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0 and str(cwd) not in probe.stdout, probe.stdout + probe.stderr
    worker = os.path.join(
        os.path.dirname(__import__("tna_deploy.data.dvs").data.dvs.__file__), "aedat_worker.py"
    )
    assert script_command(worker)[:2] == [sys.executable, "-I"]
    assert not marker.exists(), "code planted in the working directory ran"


@pytest.mark.slow
def test_a_lava_run_from_a_planted_working_directory_runs_the_installed_package(exported, tmp_path):
    """The whole path as a user meets it: the console script, ``simulate --backend lava``, a ``tna_deploy/``
    folder in the working directory and a planted temp folder beside the run's own."""
    _, net, _ = exported
    cwd, marker = _planted_cwd(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    victims = Victims(tmp_path)
    try:
        victims.plant(tmp / (PREFIX + "planted"))
        os.chmod(tmp / (PREFIX + "planted"), 0o777)
        cli = shutil.which("tna-deploy", path=os.path.dirname(sys.executable)) or "tna-deploy"
        out = subprocess.run(
            [
                cli,
                "simulate",
                net,
                "--backend",
                "lava,emulator",
                "--samples",
                "2",
                "--out",
                str(tmp_path / "o"),
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, TMPDIR=str(tmp)),
        )
        assert out.returncode == 0, out.stderr
        assert not marker.exists(), "the Lava worker imported the working directory's tna_deploy"
        assert json.loads((tmp_path / "o" / "results.json").read_text())["agreement"][
            "spikes_equal"
        ]
        victims.assert_untouched()
        assert sorted(os.listdir(tmp)) == [PREFIX + "planted"]
    finally:
        victims.close()
