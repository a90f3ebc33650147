"""The build of the fused spike layers (``csrc/spike_layers.cpp``, the emulator's fast path): a plain C++
shared library, no torch headers, so the system's C++ compiler (``$CXX``, else ``c++``) builds it in seconds
on first use; loaded through ctypes.

The build is cached under ``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``), beside the CUBA
kernel's, in a folder named by what changes the binary: the source's hash, the flags, the compiler and the
CPU. It is written under a temporary name and renamed, so concurrent first uses never see half a file.
Where no compiler is found, the build fails, or ``TNA_FUSED=0`` is set, :func:`get` returns None and the
emulator runs its torch path (the same integers, tested).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from typing import Optional

log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict = {}

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "spike_layers.cpp")
FLAGS = ("-O3", "-march=native", "-fno-trapping-math", "-std=c++17", "-shared", "-fPIC", "-pthread")
_I, _P = ctypes.c_int64, ctypes.c_void_p
SIGNATURES = {  # argument types, in the order of csrc/spike_layers.cpp
    "input_forward": (_P, _I, _I, _I, _I, _I, _I, _I, _I, _P, _I, _P, _P, _I),
    "conv_forward": (_P,) + (_I,) * 5 + (_P,) + (_I,) * 20 + (_P, _P, _P, _I, _I, _P),
}


def get() -> Optional[ctypes.CDLL]:
    """The loaded library, or None (no compiler, build failed, or disabled)."""
    if os.environ.get("TNA_FUSED", "1") == "0":
        return None
    if "lib" not in _state:
        with _lock:
            if "lib" not in _state:
                _state["lib"] = _load()
    return _state["lib"]


def library_path(source: bytes, compiler: str) -> str:
    """Where the build of ``source`` by ``compiler`` with :data:`FLAGS` on this CPU lives."""
    from .cuba_ext import _cpu_tag

    key = hashlib.sha1(
        b"\0".join([source, " ".join(FLAGS).encode(), compiler.encode(), _cpu_tag().encode()])
    ).hexdigest()[:16]
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "torch_extensions"
    )
    return os.path.join(root, f"tna_spike_layers_{key}", "spike_layers.so")


def _load() -> Optional[ctypes.CDLL]:
    try:
        compiler = shutil.which(os.environ.get("CXX", "c++"))
        if compiler is None:
            raise RuntimeError("no C++ compiler")
        with open(SOURCE, "rb") as f:
            source = f.read()
        path = library_path(source, _compiler_version(compiler))
        if not os.path.isfile(path):
            _compile(compiler, source, path)
        lib = ctypes.CDLL(path)
        for name, args in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = list(args), None
        return lib
    except Exception as e:  # no compiler, no headers: the torch path computes the same integers
        log.warning(
            "fused spike layers unavailable (%s); the emulator runs its torch path",
            str(e).strip().splitlines()[-1][:160] if str(e).strip() else type(e).__name__,
        )
        return None


def _compiler_version(compiler: str) -> str:
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    return compiler + " " + out.stdout.split("\n", 1)[0]


def _compile(compiler: str, source: bytes, path: str) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    src = os.path.join(folder, "spike_layers.cpp")
    with open(src, "wb") as f:  # one copy per build folder: the same bytes whoever writes it
        f.write(source)
    log.info("building the fused spike layers (a few seconds, once for this source and machine)")
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        done = subprocess.run(
            [compiler, *FLAGS, "-o", tmp, src], capture_output=True, text=True, timeout=600
        )
        if done.returncode:
            raise RuntimeError(done.stderr.strip() or f"{compiler} exited {done.returncode}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
