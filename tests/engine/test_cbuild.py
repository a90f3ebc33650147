"""The C++ builds' lock: concurrent first uses wait for one build and all load it; a build killed with its
lock held never blocks the next (the OS drops an flock with its process), and a torch baton file a killed
torch build left behind is cleared, so the CUBA kernel's next build does not wait forever."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tna_deploy.engine import cbuild

pytestmark = pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler")

BUILD = textwrap.dedent(
    """
    import sys
    from tna_deploy.engine import cbuild
    cbuild.CSRC = sys.argv[1]
    lib = cbuild.build("tna_test", "answer.so", ("answer.cpp",), "a test library")
    lib.answer.restype = None
    print("loaded")
    """
)


def _source(tmp_path) -> str:
    src = tmp_path / "csrc"
    src.mkdir()
    (src / "answer.cpp").write_text('extern "C" void answer() {}\n')
    return str(src)


def _env(tmp_path) -> dict:
    return dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path / "cache"))


def test_concurrent_first_uses_build_once_and_all_load(tmp_path):
    src, env = _source(tmp_path), _env(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD, src], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0] and all("loaded" in o for o in outs)
    (folder,) = (tmp_path / "cache").iterdir()
    names = sorted(os.listdir(folder))
    assert names == [".tna-build-lock", "answer.cpp", "answer.so"], names  # no temporary left


def test_a_killed_lock_holder_and_a_stale_torch_baton_block_nothing(tmp_path):
    folder = tmp_path / "build"
    folder.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from tna_deploy.engine import cbuild\n"
            "with cbuild.build_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    (folder / cbuild.TORCH_BATON).write_text("")  # what a torch build killed mid-way leaves
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    t0 = time.monotonic()
    with cbuild.build_lock(str(folder)):
        assert not (folder / cbuild.TORCH_BATON).exists()
    assert time.monotonic() - t0 < 30
