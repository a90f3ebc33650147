"""The memory order of the (K, *shape, T) rasters ``simulate`` compares and counts.

A raster keeps its logical shape (K, *shape, T) whatever its memory holds: the emulator's fused path
hands out views of (K, T, H, W, C) memory, its torch path (K, *shape, T) memory, the PyTorch reference
(K, T, H, W, C) memory. Passes over a raster go in its memory order (``memory_order``), and counting
reads a raster as (K, T, J) or (K, J, T) rows without a copy (``rows``). Only the speed depends on
these orders, never a value."""

from __future__ import annotations

import numpy as np


def memory_order(a: np.ndarray) -> tuple:
    """The axes of ``a`` from the largest stride to the smallest (``a.transpose(order)`` is C-contiguous
    when ``a`` is a permuted view of contiguous memory); axes of one element keep their place."""
    big = [i for i in range(a.ndim) if a.shape[i] > 1]
    ranked = iter(sorted(big, key=lambda i: (-abs(a.strides[i]), i)))
    return tuple(next(ranked) if a.shape[i] > 1 else i for i in range(a.ndim))


def in_memory_order(a: np.ndarray) -> np.ndarray:
    """``a`` transposed to its memory order (a view; C-contiguous where ``a``'s memory is)."""
    return a.transpose(memory_order(a))


def rows(a: np.ndarray) -> tuple:
    """``a`` (K, *shape, T) as 3-D rows and where its neurons are: ``(r, time_last, index)``. ``r`` is
    (K, J, T) when ``time_last`` (J in the file's order, ``index`` None), else (K, T, J) with J in memory
    order, ``index`` (J,) the file-order position of each. A view where the memory allows, else a
    copy in (K, J, T)."""
    k, t = a.shape[0], a.shape[-1]
    order = memory_order(a)
    if order == tuple(range(a.ndim)) and a.flags.c_contiguous:
        return a.reshape(k, -1, t), True, None
    if order[:2] == (0, a.ndim - 1):
        m = a.transpose(order)
        if m.flags.c_contiguous:
            spatial = [o - 1 for o in order[2:]]
            index = np.arange(int(np.prod(a.shape[1:-1]))).reshape(a.shape[1:-1])
            return m.reshape(k, t, -1), False, index.transpose(spatial).reshape(-1)
    return np.ascontiguousarray(a).reshape(k, -1, t), True, None
