"""``conv`` (pools included: grouped convs): Lava's ``PyConvModelFixed``, a conv2d of the integer weights
(graded inputs as they come) whose float64 sum is cast to int32 and wrapped to 24 bits, run
channels-last."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..numeric import F64_EXACT, lava_conv_out, sum_dtype
from .base import Prepared, Synapse


class Conv(Synapse):
    channels_last = True

    @staticmethod
    def prepare(p: Prepared) -> None:
        w = p.layer.weight.astype(np.float64)
        p.weight = torch.from_numpy(w)
        p.row_sum = float(np.abs(w).reshape(w.shape[0], -1).sum(1).max())

    @staticmethod
    def run(emulator, i, p, prev, prev_max) -> tuple:
        layer = p.layer
        t, k = prev.shape[:2]
        bound = prev_max * p.row_sum
        if bound >= F64_EXACT:  # Lava's scipy sums in float64 too, and rounds there
            raise ValueError(
                f"layer {layer.name}: conv sums up to {bound:.3g} exceed float64's 2^53"
            )
        dtype = sum_dtype(bound)
        x = (
            prev.reshape(t * k, *prev.shape[2:])
            .to(dtype)
            .contiguous(memory_format=torch.channels_last)
        )
        z = F.conv2d(
            x,
            p.weight.to(dtype),
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
        )
        z = z.permute(0, 2, 3, 1).contiguous()  # channels-last: the neuron runs on (H, W, C) order
        if bound >= 1 << 23:  # only then can Lava's int32 cast and 24-bit signed_clamp change it
            z = lava_conv_out(z.to(torch.float64))
            bound = float(1 << 23)
        c, h, w = layer.out_shape
        return z.reshape(t, k, h, w, c), bound
