"""Lava's processes and shared memory, accounted for: stop a run's whole process group and free its
``/dev/shm`` segments, and clean up what a killed run left behind.

Lava forks a process per layer and connects them through POSIX shared memory (``/dev/shm/psm_*``); a
parent killed mid-run leaves both behind. tna-deploy therefore runs Lava in a worker that leads its
own process group (``start_new_session``), so that one ``killpg`` reaches every Lava process and a
terminal's Ctrl-C reaches only tna-deploy, and it records in the run's temp folder (``owner.json``)
who owns it. Linux only (``/proc``); elsewhere the functions do what they can and no more.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import signal
import tempfile
import time

log = logging.getLogger(__name__)
PREFIX = "tna-lava-"
OWNER = "owner.json"
SHM = "/dev/shm"


def group_pids(pgid: int) -> list:
    """Live processes (not zombies) whose process group is ``pgid``."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(stat.split("/")[2]))
    return out


def mapped_shm(pids: list) -> set:
    """Names of the /dev/shm segments any of ``pids`` has mapped."""
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    path = line.split(None, 5)[-1].strip() if line.count(" ") >= 5 else ""
                    if path.startswith(SHM + "/"):
                        names.add(os.path.basename(path.replace(" (deleted)", "")))
        except OSError:
            continue
    return names


def unlink_shm(names) -> int:
    gone = 0
    for name in names:
        try:
            os.unlink(os.path.join(SHM, os.path.basename(name)))
            gone += 1
        except OSError:
            pass
    return gone


def stop_group(pgid: int, shm: set = frozenset(), timeout: float = 5.0) -> tuple[int, int]:
    """SIGKILL every process of group ``pgid``, wait until they are gone, free their shared memory
    (``shm`` plus whatever they map now). Returns (processes killed, segments freed)."""
    pids = group_pids(pgid)
    shm = set(shm) | mapped_shm(pids)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    end = time.monotonic() + timeout
    while group_pids(pgid) and time.monotonic() < end:
        time.sleep(0.05)
    return len(pids), unlink_shm(shm)


def remove_mp_tmp(run_dir: str) -> None:
    """Delete the ``pymp-*`` folder the run's multiprocessing noted in ``mp_tmp.txt`` (it lives outside the
    run folder when that folder's path is too long for the AF_UNIX sockets Lava's manager opens in it)."""
    try:
        with open(os.path.join(run_dir, "mp_tmp.txt")) as f:
            path = f.read().strip()
    except OSError:
        return
    if os.path.basename(path).startswith("pymp-") and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def worker_tmpdir(run_dir: str) -> str:
    """Where the worker's own temp files go: the run folder, unless its path would make the AF_UNIX
    socket paths of Lava's shared-memory manager (about 40 characters more) pass Linux's 107."""
    return run_dir if len(run_dir) <= 60 else tempfile.gettempdir()


def new_run_dir(worker_note: str = "") -> str:
    """A temp folder for one Lava run, owned by this process (see :func:`clean_stale`)."""
    clean_stale()
    d = tempfile.mkdtemp(prefix=PREFIX)
    write_owner(d, dict(parent=os.getpid(), pgid=None, started=time.time(), note=worker_note))
    return d


def write_owner(run_dir: str, owner: dict) -> None:
    tmp = os.path.join(run_dir, OWNER + ".tmp")
    with open(tmp, "w") as f:
        json.dump(owner, f)
    os.replace(tmp, os.path.join(run_dir, OWNER))


def read_owner(run_dir: str) -> dict:
    try:
        with open(os.path.join(run_dir, OWNER)) as f:
            owner = json.load(f)
        return owner if isinstance(owner, dict) else {}
    except (OSError, ValueError):
        return {}


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release(run_dir: str) -> tuple[int, int]:
    """Stop the run's worker group (if any), free its segments, delete the folder."""
    owner = read_owner(run_dir)
    shm = set(owner.get("shm", []))
    try:
        with open(os.path.join(run_dir, "shm.txt")) as f:
            shm |= {line.strip() for line in f if line.strip().startswith("psm_")}
    except OSError:
        pass
    killed, freed = 0, 0
    pgid = owner.get("pgid")
    if isinstance(pgid, int) and pgid > 1 and pgid != os.getpgid(0):
        killed, freed = stop_group(pgid, shm)
    else:
        freed = unlink_shm(shm)
    remove_mp_tmp(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return killed, freed


def clean_stale(root: str = "") -> list:
    """Release every ``tna-lava-*`` folder whose owning tna-deploy process is gone; returns notes."""
    notes = []
    for d in glob.glob(os.path.join(root or tempfile.gettempdir(), PREFIX + "*")):
        owner = read_owner(d)
        if not owner or _alive(owner.get("parent")):
            continue
        killed, freed = release(d)
        note = (f"cleaned up a Lava run left by a stopped tna-deploy (pid {owner.get('parent')}): {d}, "
                f"{killed} processes, {freed} shared-memory segments")
        log.warning(note)
        notes.append(note)
    return notes
