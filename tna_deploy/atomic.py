"""Write files so that a reader never sees half of one: a temp file beside the target, fsync, rename."""
from __future__ import annotations

import contextlib
import json
import os
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
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
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


def atomic_write(path: str, write) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)


def write_json(path: str, obj: Any) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def write_jsonl(path: str, rows: list[dict]) -> None:
    atomic_write(path, lambda f: f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()))
