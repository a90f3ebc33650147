"""Lava's processes and shared memory, accounted for: stop a run's whole process group and free its
``/dev/shm`` segments, and clean up what a killed run left behind.

Lava forks a process per layer and connects them through POSIX shared memory (``/dev/shm/psm_*``); a
parent killed mid-run leaves both behind. tna-deploy therefore runs Lava in a worker that leads its
own process group (``start_new_session``), so that one ``killpg`` reaches every Lava process and a
terminal's Ctrl-C reaches only tna-deploy, and it records in the run's temp folder (``owner.json``)
who owns it. Linux only (``/proc``); elsewhere the functions do what they can and no more.

The temp directory is shared with every other user of the machine, so nothing found there is taken at
its word. A run folder is private (``mkdtemp``: a unique name, mode 0700), and a left-over folder is
cleaned up only when it proves to be one of this user's: a real directory (not a link) owned by this
uid with no access for anyone else, whose notes are regular files owned by this uid. Even then no pid
or process group named in a note is signalled: the processes stopped are the ones that show, in
``/proc``, that they are this user's and run this very folder's worker (its path is in their command
line); shared-memory names must look like Python's (``psm_`` + hex) and be this user's files; the
multiprocessing folder must be this user's ``pymp-*`` directory in the temp directory.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import signal
import stat
import tempfile
import time

log = logging.getLogger(__name__)
PREFIX = "tna-lava-"
OWNER = "owner.json"
SHM = "/dev/shm"
RUN_MARK = "tna-lava-run"  # in the worker's pymp-* folder: the run folder it belongs to
NOTE_LIMIT = 1 << 20  # bytes: a run's notes are a few hundred
_SHM_NAME = re.compile(r"psm_[0-9a-f]{4,64}")


def _stat_fields(pid: int) -> list:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def group_pids(pgid: int) -> list:
    """Live processes (not zombies) whose process group is ``pgid``."""
    out = []
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        pid = int(stat_path.split("/")[2])
        try:
            fields = _stat_fields(pid)
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(pid)
    return out


def _mine(path_or_fd) -> os.stat_result | None:
    try:
        st = os.fstat(path_or_fd) if isinstance(path_or_fd, int) else os.lstat(path_or_fd)
    except OSError:
        return None
    return st if st.st_uid == os.geteuid() else None


def private_dir(path: str) -> bool:
    """A real directory (not a link) of this uid that nobody else can read, write or enter."""
    st = _mine(path)
    return st is not None and stat.S_ISDIR(st.st_mode) and not st.st_mode & 0o077


def read_note(run_dir: str, name: str) -> str | None:
    """The text of ``run_dir/name`` if it is a regular file of this uid (a link is not followed), else None."""
    try:
        fd = os.open(
            os.path.join(run_dir, name), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK
        )
    except OSError:
        return None
    try:
        st = _mine(fd)
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size > NOTE_LIMIT:
            return None
        with os.fdopen(fd, "r", closefd=False) as f:
            return f.read(NOTE_LIMIT)
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)


def run_processes(run_dir: str) -> list:
    """Live processes of this uid whose command line names ``run_dir`` (the worker and Lava's forks of it)."""
    me, target, out = os.getpid(), os.path.abspath(run_dir).encode(), []
    for proc_dir in glob.glob("/proc/[0-9]*"):
        pid = int(proc_dir.rsplit("/", 1)[1])
        if pid == me:
            continue
        try:
            if _mine(proc_dir) is None or _stat_fields(pid)[0] == "Z":
                continue
            with open(os.path.join(proc_dir, "cmdline"), "rb") as f:
                argv = f.read().split(b"\0")
            with open(os.path.join(proc_dir, "status")) as f:
                uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration, IndexError):
            continue
        if target in argv and all(int(u) == os.geteuid() for u in uids):
            out.append(pid)
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
    """Remove the named segments that are Python shared memory (``psm_<hex>``) and this uid's files."""
    gone = 0
    for name in names:
        path = os.path.join(SHM, os.path.basename(str(name)))
        st = _mine(path)
        if (
            not _SHM_NAME.fullmatch(os.path.basename(path))
            or st is None
            or not stat.S_ISREG(st.st_mode)
        ):
            continue
        try:
            os.unlink(path)
            gone += 1
        except OSError:
            pass
    return gone


def _wait_gone(alive, timeout: float) -> None:
    end = time.monotonic() + timeout
    while alive() and time.monotonic() < end:
        time.sleep(0.05)


def stop_group(pgid: int, shm: set = frozenset(), timeout: float = 5.0) -> tuple[int, int]:
    """SIGKILL every process of group ``pgid`` (a worker this process started and has not reaped, so the
    id cannot have been reused), wait until they are gone, free their shared memory (``shm`` plus whatever
    they map now). Returns (processes killed, segments freed)."""
    pids = group_pids(pgid)
    shm = set(shm) | mapped_shm(pids)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _wait_gone(lambda: group_pids(pgid), timeout)
    return len(pids), unlink_shm(shm)


def stop_run_processes(
    run_dir: str, shm: set = frozenset(), timeout: float = 5.0
) -> tuple[int, int]:
    """SIGKILL the processes that prove to run ``run_dir``'s worker (:func:`run_processes`), and their process
    groups when the group's leader is one of them or gone (a group id in use cannot be reused); free their
    shared memory and the ``shm`` names. Returns (processes killed, segments freed)."""
    pids = run_processes(run_dir)
    shm = set(shm) | mapped_shm(pids)
    own_group = os.getpgid(0)
    for pid in pids:
        try:
            pgid = os.getpgid(pid)
            if pgid != own_group and pgid > 1 and (pgid in pids or not _exists(pgid)):
                os.killpg(pgid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _wait_gone(lambda: run_processes(run_dir), timeout)
    return len(pids), unlink_shm(shm)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_mp_tmp(run_dir: str) -> None:
    """Delete the ``pymp-*`` folder the run's multiprocessing noted in ``mp_tmp.txt`` (it lives outside the
    run folder when that folder's path is too long for the AF_UNIX sockets Lava's manager opens in it),
    when it is this uid's private ``pymp-*`` folder directly in the run folder or the temp directory and its
    ``RUN_MARK`` file, written by the worker, names this run folder."""
    path = (read_note(run_dir, "mp_tmp.txt") or "").strip()
    if not path or not os.path.isabs(path):
        return
    parent = os.path.realpath(os.path.dirname(path))
    homes = {os.path.realpath(run_dir), os.path.realpath(tempfile.gettempdir())}
    if (
        os.path.basename(path).startswith("pymp-")
        and parent in homes
        and private_dir(path)
        and (read_note(path, RUN_MARK) or "").strip() == os.path.abspath(run_dir)
    ):
        shutil.rmtree(path, ignore_errors=True)


def worker_tmpdir(run_dir: str) -> str:
    """Where the worker's own temp files go: the run folder, unless its path would make the AF_UNIX
    socket paths of Lava's shared-memory manager (about 40 characters more) pass Linux's 107."""
    return run_dir if len(run_dir) <= 60 else tempfile.gettempdir()


def new_run_dir(worker_note: str = "") -> str:
    """A private temp folder (unique name, mode 0700) for one Lava run, owned by this process (see
    :func:`clean_stale`)."""
    clean_stale()
    d = tempfile.mkdtemp(prefix=PREFIX)
    write_owner(d, dict(parent=os.getpid(), pgid=None, started=time.time(), note=worker_note))
    return d


def write_owner(run_dir: str, owner: dict) -> None:
    tmp = os.path.join(run_dir, OWNER + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(owner, f)
    os.replace(tmp, os.path.join(run_dir, OWNER))


def read_owner(run_dir: str) -> dict:
    try:
        owner = json.loads(read_note(run_dir, OWNER) or "null")
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}


def _shm_notes(run_dir: str, owner: dict) -> set:
    names = (
        {str(n) for n in owner.get("shm", []) if isinstance(n, str)}
        if isinstance(owner.get("shm"), list)
        else set()
    )
    names |= {
        line.strip() for line in (read_note(run_dir, "shm.txt") or "").splitlines() if line.strip()
    }
    return names


def release(run_dir: str) -> tuple[int, int]:
    """Stop the run's processes (those that prove to be its worker and Lava's forks of it), free its
    segments, delete the folder. Acts only on a private folder of this uid (:func:`private_dir`)."""
    if not private_dir(run_dir):
        log.warning("left alone: %s is not a private folder of this user", run_dir)
        return 0, 0
    killed, freed = stop_run_processes(run_dir, _shm_notes(run_dir, read_owner(run_dir)))
    remove_mp_tmp(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return killed, freed


def clean_stale(root: str = "") -> list:
    """Release every ``tna-lava-*`` folder of this user (:func:`private_dir`) whose owning tna-deploy process
    is gone; returns notes. Folders of other users, links and folders others can write are left alone."""
    notes = []
    for d in glob.glob(os.path.join(root or tempfile.gettempdir(), PREFIX + "*")):
        if not private_dir(d):
            continue
        owner = read_owner(d)
        parent = owner.get("parent")
        if not owner or not isinstance(parent, int) or parent <= 0 or _exists(parent):
            continue
        killed, freed = release(d)
        note = (
            f"cleaned up a Lava run left by a stopped tna-deploy (pid {parent}): {d}, "
            f"{killed} processes, {freed} shared-memory segments"
        )
        log.warning(note)
        notes.append(note)
    return notes
