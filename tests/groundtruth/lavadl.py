"""Where lava-dl's wheel keeps its netx test networks and ground truths, and the layout helpers the
ground-truth tests share (Lava stores (W, H, C, T); the IR and the emulator (C, H, W, T))."""

from __future__ import annotations

import os

import numpy as np
import pytest


def netx_tests() -> str:
    """lava-dl's ``tests/lava/lib/dl/netx`` folder, shipped in its wheel (skips the test without it)."""
    try:
        import lava.lib.dl  # noqa: F401 -- only to find site-packages
    except ImportError:
        pytest.skip("lava-dl is not installed (the ground truths ship in its wheel)")
    import lava

    site = os.path.dirname(os.path.abspath(list(lava.__path__)[0]))
    path = os.path.join(site, "tests", "lava", "lib", "dl", "netx")
    if not os.path.isdir(path):
        pytest.skip(f"lava-dl's netx tests are not in {site}")
    return path


def gt(*parts: str) -> np.ndarray:
    return np.load(os.path.join(netx_tests(), "gts", *parts), allow_pickle=False)


def to_lava(a: np.ndarray) -> np.ndarray:
    """One sample's (C, H, W, T) or (N, T) emulator array in Lava's (W, H, C, T) order."""
    return a.transpose(2, 1, 0, 3) if a.ndim == 4 else a


def from_lava(a: np.ndarray) -> np.ndarray:
    """Lava's (W, H, C[, T]) order to the IR's (C, H, W[, T])."""
    return a.transpose(2, 1, 0, *range(3, a.ndim)) if a.ndim >= 3 else a
