"""The arithmetic the 2-D kinds SLAYER exports beside conv (pool, unpool, convT) share: an integer
linear map of each step's input image, summed in float32 where exact (else float64) and wrapped to 24
bits as Lava's ``Conv`` wraps its sums, returned channels-first (T, K, C, H, W)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..numeric import signed_clamp24, sum_dtype


def spatial_run(
    prev: torch.Tensor, prev_max: float, row_sum: float, op: Callable, out_shape: tuple
) -> tuple:
    """``op(x, dtype)`` on every step's (C, H, W) input at once, its sum bounded by
    ``prev_max * row_sum``; the a_in (T, K, *out_shape) and its bound."""
    t, k = prev.shape[:2]
    bound = prev_max * row_sum
    dtype = sum_dtype(bound)
    z = op(prev.reshape(t * k, *prev.shape[2:]).to(dtype), dtype)
    if bound >= 1 << 23:  # only then can the 24-bit wrap change it
        z = signed_clamp24(z.to(torch.float64))
        bound = float(1 << 23)
    return z.reshape(t, k, *out_shape).contiguous(), bound


def per_channel(kernel: np.ndarray, channels: int) -> torch.Tensor:
    """A pool's or unpool's one kernel (1, 1, kH, kW) as the weight of a grouped conv of every channel."""
    return torch.from_numpy(np.repeat(kernel.astype(np.float64), channels, axis=0))


def transposed(p, groups: int) -> Callable:
    """The ``op`` of a transposed conv (unpool, convT) of ``p.weight`` with the layer's geometry."""
    layer = p.layer

    def op(x, dtype):
        return F.conv_transpose2d(
            x,
            p.weight.to(dtype),
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=groups,
        )

    return op
