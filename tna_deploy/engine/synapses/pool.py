"""``pool``: SLAYER's sum pool as the IR defines it (``ir/layers/pool.py``): SLAYER's bottom / right
zero rows and columns, then every channel convolved alone with the one integer kernel."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .base import Prepared, Synapse
from .scatter import pool_taps
from .spatial import per_channel, spatial_run


class Pool(Synapse):
    scatter = True

    @staticmethod
    def prepare(p: Prepared) -> None:
        p.weight = per_channel(p.layer.weight, p.layer.in_shape[0])
        p.row_sum = float(np.abs(p.layer.weight).sum())
        p.extra["taps"] = pool_taps(p.layer)

    @staticmethod
    def run(emulator, i, p, prev, prev_max) -> tuple:
        layer = p.layer
        c, h, w = layer.in_shape
        k_h, k_w = layer.weight.shape[2:]

        def op(x, dtype):
            x = F.pad(x, (0, w % k_w, 0, h % k_h))  # SLAYER's odd-size padding
            return F.conv2d(
                x,
                p.weight.to(dtype),
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=c,
            )

        return spatial_run(prev, prev_max, p.row_sum, op, layer.out_shape)
