"""The build of the fused spike layers (``csrc/spike_layers.cpp``, ``csrc/spike_fast.cpp`` and their
``csrc/spike_common.h``: the emulator's fast path): a plain C++ shared library, no torch headers, so
the system's C++ compiler (``$CXX``, else ``c++``) builds it in seconds on first use; loaded through
ctypes. The int32 kernels (``spike_fast.cpp``) exist in an AVX2 build only (``lib.fast``).

The build and its cache are ``cbuild``'s (shared with ``kinds_ext``). Where no compiler is found, the
build fails, or ``TNA_FUSED=0`` is set, :func:`get` returns None and the emulator runs its torch path
(the same integers, tested).
"""

from __future__ import annotations

import ctypes
import threading
from typing import Optional

from . import cbuild

_lock = threading.Lock()
_state: dict = {}

CSRC = cbuild.CSRC
SOURCES = ("spike_common.h", "spike_layers.cpp", "spike_fast.cpp")  # compiled: the .cpp
FLAGS = cbuild.FLAGS
WHAT = "the fused spike layers"
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
    return cbuild.loaded(_state, _lock, _load)


def library_path(source: bytes, compiler: str) -> str:
    """Where the build of ``source`` (the sources' bytes, joined) by ``compiler`` with :data:`FLAGS` on this
    CPU lives."""
    return cbuild.library_path("tna_spike_layers", "spike_layers.so", source, compiler, FLAGS)


def _load() -> Optional[ctypes.CDLL]:
    try:
        lib = cbuild.build("tna_spike_layers", "spike_layers.so", SOURCES, WHAT, FLAGS)
        lib.fast_kernels.argtypes, lib.fast_kernels.restype = [], ctypes.c_int64
        lib.fast = bool(lib.fast_kernels())
        cbuild.bind(lib, {**SIGNATURES, **(FAST_SIGNATURES if lib.fast else {})})
        return lib
    except Exception as e:  # no compiler, no headers: the torch path computes the same integers
        cbuild.unavailable(WHAT, e)
        return None
