"""Write files so that a reader never sees half of one: a temp file beside the target, fsync, rename."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from typing import Any


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask sets it to read it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _final_mode(path: str) -> int:
    """The mode a plain ``open(path, 'w')`` would leave: the old file's, or 0666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temp path beside ``path``; on success fsync it and rename it over ``path``, else delete it.

    tempfile creates the temp file 0600; it gets the mode a plain write would have given ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    clean_stale_temps(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _final_mode(path))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def clean_stale_temps(folder: str) -> list:
    """Delete ``.tmp-<pid>-*`` files (and ``.tmp-<pid>-set-*`` staging folders) in ``folder`` whose writing
    process is gone (a SIGKILL mid-write)."""
    import re

    gone = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return gone
    for name in entries:
        m = re.match(r"\.tmp-(\d+)-", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(path).st_mode) and name.startswith(f"{m.group(0)}set-"):
                import shutil

                shutil.rmtree(path)  # an output set's staging folder (never a link: lstat)
            else:
                os.unlink(path)
            gone.append(name)
    return gone


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def atomic_write(path: str, write) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)


def write_bytes(path: str, data: bytes, flag: str = "--out") -> None:
    """An exported file, atomically; a disk that cannot take it is one line and leaves nothing behind."""
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as e:
        from .errors import ExportError

        raise ExportError(
            f"{flag} {path}: could not write it ({e.strerror or type(e).__name__}); nothing was "
            f"written: free some space or choose another place"
        ) from None


def write_json(path: str, obj: Any) -> None:
    atomic_write(
        path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
    )


def write_jsonl(path: str, rows: list[dict]) -> None:
    atomic_write(
        path,
        lambda f: f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()),
    )


# ---- output sets: a stage's files appear complete or are refused by name ----------------------------
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "tna-deploy-output-set"


def _missing_folders(folder: str) -> list:
    """The folders ``os.makedirs(folder)`` would create, the deepest first."""
    created, p = [], os.path.abspath(folder)
    while not os.path.exists(p) and p != os.path.dirname(p):
        created.append(p)
        p = os.path.dirname(p)
    return created


def _remove_empty(folders: list) -> None:
    """Remove each of ``folders`` (the deepest first) that is still empty."""
    for d in folders:
        with contextlib.suppress(OSError):
            os.rmdir(d)


def check_writable(folder: str, flag: str = "--out") -> None:
    """Fail now, in one line, if ``folder`` cannot take files (missing permission, read-only or immutable,
    full), rather than after the expensive work. Folders it had to create for the probe are removed again:
    a stage that fails later leaves nothing behind."""
    from .errors import ConfigError

    created = _missing_folders(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=folder)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise ConfigError(
            f"{flag} {folder}: cannot write there ({e.strerror or type(e).__name__}); "
            f"choose a folder you can write to"
        ) from None
    finally:
        _remove_empty(created)


def file_sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


MANIFEST_LIMIT = 1 << 20  # bytes: a manifest lists a handful of files


def read_manifest(folder: str) -> dict:
    """The folder's manifest, or {} when it is missing, too large, not JSON, nested past Python's limit
    (a crafted file) or not one tna-deploy writes."""
    try:
        with open(os.path.join(folder, MANIFEST), "rb") as f:
            text = f.read(MANIFEST_LIMIT + 1)
        if len(text) > MANIFEST_LIMIT:
            return {}
        m = json.loads(text)
    except (OSError, ValueError, RecursionError):
        return {}
    ok = (
        isinstance(m, dict)
        and m.get("format") == MANIFEST_FORMAT
        and isinstance(m.get("files"), dict)
    )
    return m if ok else {}


_HELD: dict = {}  # real path of a locked --out folder -> [open descriptor, depth]


@contextlib.contextmanager
def out_lock(folder: str, flag: str = "--out"):
    """Hold ``folder`` (created if needed) for the life of a command: a second tna-deploy writing into it
    at the same time is refused in one line, so two runs can never mix their files. An advisory
    ``flock`` on the folder itself: no lock file is left behind, and a killed holder releases it. Nested
    uses by one process share the lock."""
    from .errors import ConfigError

    created = _missing_folders(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        key = os.path.realpath(folder)
        if key in _HELD:
            _HELD[key][1] += 1
        else:
            import fcntl

            fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigError(
                    f"{flag} {folder}: another tna-deploy is writing there now; wait for it to "
                    f"finish or choose another folder"
                ) from None
            _HELD[key] = [fd, 1]
    except OSError as e:
        raise ConfigError(
            f"{flag} {folder}: cannot write there ({e.strerror or type(e).__name__}); "
            f"choose a folder you can write to"
        ) from None
    try:
        yield
    finally:
        _HELD[key][1] -= 1
        if not _HELD[key][1]:
            os.close(_HELD.pop(key)[0])  # closing the descriptor releases the lock
        _remove_empty(created)  # folders made for a command that wrote nothing go again


def check_apart(out: str, inputs, flag: str = "--out") -> None:
    """Refuse an ``out`` that is one of the command's ``inputs`` or contains one (writing there would
    replace or delete what the command reads); ``inputs`` may hold None for inputs not given."""
    from .errors import ConfigError

    target = os.path.realpath(out)
    for given in inputs:
        if not given:
            continue
        src = os.path.realpath(given)
        if src == target or src.startswith(target.rstrip(os.sep) + os.sep):
            what = "is" if src == target else "contains"
            raise ConfigError(
                f"{flag} {out} {what} the input {given}: writing there would replace what this "
                f"command reads; choose another {flag}"
            )


class OutputSet:
    """The files one stage writes into a folder, appearing together or not at all.

    ``write(name, fn)`` writes one into a private staging folder beside them; ``close`` then, with
    SIGINT and SIGTERM held back, removes the previous set's files (only those its manifest proves this
    stage wrote), moves the new ones into place and writes ``manifest.json`` (every file's SHA-256) last.
    A failure or an interrupt before ``close`` (a full disk, Ctrl-C) removes the staging folder and leaves
    the previous set as it was. A folder without a manifest is incomplete; a file whose hash differs from
    the manifest's belongs to another run. The folder is locked (:func:`out_lock`) for the set's life,
    unless the caller holds it already. Use it as a context manager, or call ``abort`` on failure."""

    def __init__(self, folder: str, stage: str):
        self.folder, self.stage, self.names = folder, stage, []
        self._lock = out_lock(folder)
        self._lock.__enter__()
        try:
            clean_stale_temps(folder)
            self.staging = tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-set-", dir=folder)
        except BaseException:
            self.release()
            raise

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            self.abort()

    def write(self, name: str, write) -> str:
        if os.path.basename(name) != name or name == MANIFEST:
            raise ValueError(f"not a file name of an output set: {name!r}")
        try:
            atomic_write(os.path.join(self.staging, name), write)
        except BaseException:
            self.abort()
            raise
        self.names.append(name)
        return os.path.join(self.folder, name)

    def close(self, extra: dict = None) -> None:
        from datetime import datetime, timezone

        try:
            files = {n: file_sha256(os.path.join(self.staging, n)) for n in self.names}
            manifest = dict(
                format=MANIFEST_FORMAT,
                stage=self.stage,
                files=files,
                written=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **(extra or {}),
            )
            write_json(os.path.join(self.staging, MANIFEST), manifest)
        except BaseException:
            self.abort()
            raise
        with _signals_held():  # renames only: no disk space needed, nothing left half-done
            old = read_manifest(self.folder)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.folder, MANIFEST))  # the folder reads as incomplete
            proved = old.get("files", {}) if old.get("stage") == self.stage else {}
            for name, digest in proved.items():
                path = os.path.join(self.folder, str(name))
                if (
                    os.path.basename(str(name)) == name
                    and name != MANIFEST
                    and _same_file(path, digest)
                ):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(
                            path
                        )  # a file the manifest names but this stage did not write stays
            for name in self.names + [MANIFEST]:  # the manifest last
                os.replace(os.path.join(self.staging, name), os.path.join(self.folder, name))
            _remove_empty([self.staging])
        self.release()

    def abort(self) -> None:
        """Drop the staged files and give up the lock; the folder keeps its previous set."""
        import shutil

        shutil.rmtree(self.staging, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """Give up the folder's lock (``close`` and ``abort`` do)."""
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM wait (on Linux, in this thread) until the block ends, then arrive."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def write_npz(f, arrays: dict) -> None:
    """``np.savez_compressed`` into an open file, with the archive closed whatever happens (numpy's own
    leaves its ZipFile open when a write fails, and its finalizer then prints a traceback)."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:
        for name, a in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(a), allow_pickle=False)


def _same_file(path: str, digest) -> bool:
    """``path`` is a regular file (not a link) whose SHA-256 is ``digest``: one this stage wrote."""
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and isinstance(digest, str) and file_sha256(path) == digest


def verify_set(folder: str, stage: str, names: tuple = ()) -> dict:
    """The manifest of a complete ``stage`` output set in ``folder``; one-line ``CheckpointError`` when the
    set is incomplete (no manifest: the stage did not finish), mixed (a file differs from the one the
    manifest recorded) or lacks one of ``names``."""
    from .errors import CheckpointError

    redo = f"re-run tna-deploy {stage} --out {folder}"
    if not os.path.isdir(folder):
        raise CheckpointError(
            f"{folder}: no such folder; run tna-deploy {stage} ... --out {folder} first"
        )
    m = read_manifest(folder)
    if not m:
        raise CheckpointError(
            f"{folder}: incomplete {stage} output (no {MANIFEST}: the {stage} that wrote it "
            f"did not finish, or an older tna-deploy wrote it); {redo}"
        )
    if m.get("stage") != stage:
        raise CheckpointError(f"{folder}: holds {m.get('stage')!r} output, not {stage}'s")
    for name in names:
        if name not in m["files"]:
            raise CheckpointError(f"{folder}: {name} is not part of this {stage} output; {redo}")
    for name, digest in m["files"].items():
        path = os.path.join(folder, os.path.basename(str(name)))
        if not os.path.isfile(path):
            raise CheckpointError(f"{path}: missing from this {stage} output; {redo}")
        if file_sha256(path) != digest:
            raise CheckpointError(
                f"{path}: not the file this {stage} output was written with (another run "
                f"replaced it); {redo}"
            )
    return m
