"""``unpool``: SLAYER's unpool as the IR defines it (``ir/layers/unpool.py``): every channel spread alone
through the one integer kernel (a transposed conv with groups = channels)."""

from __future__ import annotations

import numpy as np

from .base import Prepared, Synapse
from .scatter import transposed_taps
from .spatial import per_channel, spatial_run, transposed


class Unpool(Synapse):
    scatter = True

    @staticmethod
    def prepare(p: Prepared) -> None:
        c = p.layer.in_shape[0]
        p.weight = per_channel(p.layer.weight, c)
        p.row_sum = float(np.abs(p.layer.weight).sum())  # an output gets at most every tap once
        p.extra["taps"] = transposed_taps(p.layer, p.weight.numpy(), c)

    @staticmethod
    def run(emulator, i, p, prev, prev_max) -> tuple:
        layer = p.layer

        op = transposed(p, layer.in_shape[0])
        return spatial_run(prev, prev_max, p.row_sum, op, layer.out_shape)
