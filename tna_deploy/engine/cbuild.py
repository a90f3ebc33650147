"""Building and loading a plain C++ shared library (no torch headers) through ctypes: what the fused
spike layers (``spike_ext``) and the fused layer kinds (``kinds_ext``) share.

The system's C++ compiler (``$CXX``, else ``c++``) builds the library on first use. The build is cached
under ``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``), beside the CUBA kernel's, in a
folder named by what changes the binary: the sources' hash, the flags, the compiler and the CPU. A build
holds the folder's lock (:func:`build_lock`, an OS file lock that dies with its process), so concurrent
first uses wait for one build, and is written under a temporary name and renamed, so no reader ever sees
half a file.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from typing import Optional

from ..atomic import atomic_write

log = logging.getLogger(__name__)

CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
FLAGS = ("-O3", "-march=native", "-fno-trapping-math", "-std=c++17", "-shared", "-fPIC", "-pthread")


def disabled() -> bool:
    """``TNA_FUSED=0``: every fused build stays unused (the torch paths run)."""
    return os.environ.get("TNA_FUSED", "1") == "0"


def loaded(state: dict, lock, load) -> Optional[ctypes.CDLL]:
    """``load()``'s library, loaded once per process under ``lock`` and kept in ``state``; None where
    it is disabled (``TNA_FUSED=0``) or ``load`` found no build."""
    if disabled():
        return None
    if "lib" not in state:
        with lock:
            if "lib" not in state:
                state["lib"] = load()
    return state["lib"]


def library_path(prefix: str, filename: str, source: bytes, compiler: str, flags=FLAGS) -> str:
    """Where the build of ``source`` (the sources' bytes, joined) by ``compiler`` with ``flags`` on this
    CPU lives: ``<root>/<prefix>_<key>/<filename>``."""
    key = hashlib.sha1(
        b"\0".join([source, " ".join(flags).encode(), compiler.encode(), cpu_tag().encode()])
    ).hexdigest()[:16]
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "torch_extensions"
    )
    return os.path.join(root, f"{prefix}_{key}", filename)


def build(prefix: str, filename: str, names: tuple, what: str, flags=FLAGS) -> ctypes.CDLL:
    """Load the library of the sources ``names`` (in ``csrc/``; the ``.cpp`` ones are compiled),
    building it first where this machine has no build of them. Raises where it cannot."""
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        raise RuntimeError("no C++ compiler")
    sources = {}
    for name in names:
        with open(os.path.join(CSRC, name), "rb") as f:
            sources[name] = f.read()
    path = library_path(
        prefix, filename, b"\0\0".join(sources.values()), compiler_version(compiler), flags
    )
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with build_lock(os.path.dirname(path)):
            if not os.path.isfile(path):  # not built while this process waited for the lock
                compile_library(compiler, sources, path, what, flags)
    return ctypes.CDLL(path)


TORCH_BATON = (
    "lock"  # torch.utils.cpp_extension's build lock file (its FileBaton), in the build folder
)


@contextlib.contextmanager
def build_lock(folder: str):
    """Hold ``folder``'s build lock: an ``flock`` on a file in it, which the OS releases when its holder
    exits, however it ends, so a killed build never blocks the next. Inside it no other build of this
    folder runs, so a torch baton file left there is a killed build's (torch would wait on it forever):
    it is removed. Where ``fcntl`` is missing (not POSIX) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(os.path.join(folder, ".tna-build-lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            baton = os.path.join(folder, TORCH_BATON)
            if os.path.exists(baton):
                log.info("removing %s, left by a build that was killed", baton)
                os.unlink(baton)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def bind(lib: ctypes.CDLL, signatures: dict) -> None:
    """Set each function's argument types (``signatures``: name -> ctypes types); they return nothing."""
    for name, args in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = list(args), None


def compiler_version(compiler: str) -> str:
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    return compiler + " " + out.stdout.split("\n", 1)[0]


def compile_library(compiler: str, sources: dict, path: str, what: str, flags=FLAGS) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    for name, text in sources.items():  # one copy per build folder, renamed into place whole
        atomic_write(os.path.join(folder, name), lambda f, text=text: f.write(text))
    cpp = [os.path.join(folder, name) for name in sources if name.endswith(".cpp")]
    log.info("building %s (a few seconds, once for this source and machine)", what)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        done = subprocess.run(
            [compiler, *flags, "-o", tmp, *cpp], capture_output=True, text=True, timeout=600
        )
        if done.returncode:
            raise RuntimeError(done.stderr.strip() or f"{compiler} exited {done.returncode}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def unavailable(what: str, e: Exception) -> None:
    """Log why a fused build is not used (the torch path computes the same integers)."""
    log.warning(
        "%s unavailable (%s); the emulator runs its torch path",
        what,
        str(e).strip().splitlines()[-1][:160] if str(e).strip() else type(e).__name__,
    )


def cpu_tag() -> str:
    """A short hash of this CPU's model and feature flags (part of every build key)."""
    import platform

    text = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            text += "".join(
                line for line in f if line.startswith(("model name", "flags", "Features"))
            )
    except OSError:
        pass
    return hashlib.sha1(text.encode()).hexdigest()[:10]
