"""Write files so that a reader never sees half of one: a temp file beside the target, fsync, rename."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temp path beside ``path``; on success fsync it and rename it over ``path``, else delete it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    os.close(fd)
    try:
        yield tmp
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
