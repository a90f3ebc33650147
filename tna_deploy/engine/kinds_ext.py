"""The build of the fused layer kinds (``csrc/dense_rec.cpp``: a recurrent dense layer's step-by-step
loop; ``csrc/rf.cpp``: resonate-and-fire neurons; ``csrc/sdnn.cpp``: sigma-delta neurons;
``csrc/scatter_cuba.cpp``: pool, unpool and convT with their CUBA neurons; ``csrc/dense_events.cpp``:
a dense synapse's sums over its nonzero inputs only; ``csrc/loihi_cuba.h``:
Lava's CUBA neuron they share), a plain C++ library loaded through ctypes and built and cached by
``cbuild`` on first use. Where no compiler is found, the build fails, or ``TNA_FUSED=0`` is set,
:func:`get` returns None and each kind runs its torch path (the same integers, tested)."""

from __future__ import annotations

import ctypes
import threading
from typing import Optional

import torch

from . import cbuild

_lock = threading.Lock()
_state: dict = {}

SOURCES = (
    "loihi_cuba.h",
    "spike_common.h",
    "dense_rec.cpp",
    "rf.cpp",
    "sdnn.cpp",
    "scatter_cuba.cpp",
    "dense_events.cpp",
)  # the .cpp built
WHAT = "the fused layer kinds"
_I, _P, _D = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
SIGNATURES = {
    "dense_rec_forward": (_P, _I, _I, _P, _D, _P, _P, _I, _D, _D, _I, _D, _P, _P, _P, _P),
    "rf_forward": (_P, _P, _I, _I, _I, _I, _I, _I, _P, _P, _P),
    "sdnn_forward": (_P, _I, _I, _I, _I, _I, _P, _I, _I, _I, _I, _I, _P, _I, _P, _P, _P, _I),
    "scatter_cuba_forward": (_P,) + (_I,) * 8 + (_P, _P, _P, _I, _P, _D, _D, _I, _D, _P, _P, _I),
    "dense_events": (_P, _I, _I, _P, _I, _P, _I, _I),
}


def get() -> Optional[ctypes.CDLL]:
    """The loaded library, or None (no compiler, build failed, or disabled)."""
    return cbuild.loaded(_state, _lock, _load)


def _load() -> Optional[ctypes.CDLL]:
    try:
        lib = cbuild.build("tna_kinds", "kinds.so", SOURCES, WHAT)
        cbuild.bind(lib, SIGNATURES)
        return lib
    except Exception as e:  # no compiler, no headers: the torch path computes the same integers
        cbuild.unavailable(WHAT, e)
        return None


def ptr(t: Optional[torch.Tensor]):
    """A contiguous CPU tensor's data pointer for ctypes (None: a null pointer)."""
    return None if t is None else ctypes.c_void_p(t.data_ptr())
