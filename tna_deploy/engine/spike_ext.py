"""The build of the fused spike layers (``csrc/spike_layers.cpp``, ``csrc/spike_fast.cpp`` and their
``csrc/spike_common.h``: the emulator's fast path): a plain C++ shared library, no torch headers, so
the system's C++ compiler (``$CXX``, else ``c++``) builds it in seconds on first use; loaded through
ctypes. The int32 kernels (``spike_fast.cpp``) exist in an AVX2 build only (``lib.fast``).

The build is cached under ``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``), beside the CUBA
kernel's, in a folder named by what changes the binary: the sources' hash, the flags, the compiler and the
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

CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
SOURCES = ("spike_common.h", "spike_layers.cpp", "spike_fast.cpp")  # compiled: the .cpp
FLAGS = ("-O3", "-march=native", "-fno-trapping-math", "-std=c++17", "-shared", "-fPIC", "-pthread")
_I, _P = ctypes.c_int64, ctypes.c_void_p
SIGNATURES = {  # argument types, in the order of the sources
    "input_forward": (_P, _I, _I, _I, _I, _I, _I, _I, _I, _P, _I, _P, _P, _I),
    "conv_forward": (_P,) + (_I,) * 5 + (_P,) + (_I,) * 20 + (_P, _P, _P, _I, _I, _P),
}
FAST_SIGNATURES = {  # csrc/spike_fast.cpp's int32 kernels: only in an AVX2 build (fast_kernels() == 1)
    "input_fast": (_P, _I, _I, _I, _I, _I, _I, _I, _P, _I, _P, _P, _I),
    "conv_fast": (_P,) + (_I,) * 5 + (_P,) + (_I,) * 15 + (_P, _P, _P, _I, _I, _P),
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
    """Where the build of ``source`` (the sources' bytes, joined) by ``compiler`` with :data:`FLAGS` on this
    CPU lives."""
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
        sources = {}
        for name in SOURCES:
            with open(os.path.join(CSRC, name), "rb") as f:
                sources[name] = f.read()
        path = library_path(b"\0\0".join(sources.values()), _compiler_version(compiler))
        if not os.path.isfile(path):
            _compile(compiler, sources, path)
        lib = ctypes.CDLL(path)
        lib.fast_kernels.argtypes, lib.fast_kernels.restype = [], ctypes.c_int64
        lib.fast = bool(lib.fast_kernels())
        for name, args in {**SIGNATURES, **(FAST_SIGNATURES if lib.fast else {})}.items():
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


def _compile(compiler: str, sources: dict, path: str) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    for name, text in sources.items():  # one copy per build folder: the same bytes, whoever writes
        with open(os.path.join(folder, name), "wb") as f:
            f.write(text)
    cpp = [os.path.join(folder, name) for name in sources if name.endswith(".cpp")]
    log.info("building the fused spike layers (a few seconds, once for this source and machine)")
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        done = subprocess.run(
            [compiler, *FLAGS, "-o", tmp, *cpp], capture_output=True, text=True, timeout=600
        )
        if done.returncode:
            raise RuntimeError(done.stderr.strip() or f"{compiler} exited {done.returncode}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
