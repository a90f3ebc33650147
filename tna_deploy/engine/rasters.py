"""A time-major layer output (T, K, *shape) handed out as the (K, *shape, T) raster every simulate source
returns, laid out in memory per sample and time-major, ``(K, T, *shape in its own memory order)``: the
copy (with the dtype cast) moves whole frames, never single values, and the emulator and the PyTorch
reference, whose outputs share the inner order (channels-last for a conv), hand out rasters of one memory
order, which the comparison then reads in one pass."""

from __future__ import annotations

import numpy as np
import torch


def batch_major(s: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """``s`` (T, K, *shape), any strides, as a (K, *shape, T) numpy view of (K, T, *inner) memory in
    ``dtype``, the inner axes in ``s``'s own memory order (largest stride first)."""
    inner = sorted(range(2, s.ndim), key=lambda i: (-abs(s.stride(i)), i))
    order = [1, 0, *inner]  # the memory: sample, time, then the inner axes as s holds them
    out = torch.empty([s.shape[i] for i in order], dtype=dtype)
    out.copy_(s.permute(order))
    # memory axis of each logical axis of (K, *shape, T): K is 0, T is 1, shape axis j is where j + 2 went
    where = {axis: m for m, axis in enumerate(order)}
    logical = [where[1], *(where[j] for j in range(2, s.ndim)), where[0]]
    return out.numpy().transpose(logical)
