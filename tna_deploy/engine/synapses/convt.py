"""``convT``: SLAYER's transposed conv (``ir/layers/convt.py``): torch's ``conv_transpose2d`` of the
integer weights, no output padding, the sum wrapped to 24 bits as Lava's ``Conv`` wraps it."""

from __future__ import annotations

import numpy as np
import torch

from .base import Prepared, Synapse
from .scatter import transposed_taps
from .spatial import spatial_run, transposed


class ConvT(Synapse):
    scatter = True

    @staticmethod
    def prepare(p: Prepared) -> None:
        w = p.layer.weight.astype(np.float64)
        p.weight = torch.from_numpy(w)
        # an output channel takes at most every input channel through every tap once
        p.row_sum = float(np.abs(w).sum(axis=(0, 2, 3)).max())
        p.extra["taps"] = transposed_taps(p.layer, w, p.layer.groups)

    @staticmethod
    def run(emulator, i, p, prev, prev_max) -> tuple:
        layer = p.layer

        op = transposed(p, layer.groups)
        return spatial_run(prev, prev_max, p.row_sum, op, layer.out_shape)
