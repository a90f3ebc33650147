"""``average``: SLAYER's Average read-out (``ir/layers/average.py``), computed on the host from the spike
raster of the compute layer before it, in that layer's window (no latency): per step, the number of
spikes in each of ``num_outputs`` equal, consecutive groups of the raster flattened in torch order.
SLAYER's value is that count divided by the group size."""

from __future__ import annotations

import numpy as np

from .base import Readout


class Average(Readout):
    @staticmethod
    def readout(layer, spikes: np.ndarray) -> np.ndarray:
        k, t = spikes.shape[0], spikes.shape[-1]
        return spikes.reshape(k, layer.out_shape[0], -1, t).sum(axis=2, dtype=np.int64)
