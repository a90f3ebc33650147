"""A network's read-out layer (SLAYER's ``average``), applied to what the emulator returns: the emulator
runs the compute layers; a trailing read-out, which has no neuron and no synapse on the chip, is the
host's computation on the last compute layer's spike raster, in that layer's window (no latency)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import DeployedNet
from .synapses import READOUTS
from .trace import Trace


def readout(net: DeployedNet, trace: Trace) -> Optional[np.ndarray]:
    """The read-out (K, *out_shape, T) int64 of ``net``'s last layer from ``trace`` (the emulator's or
    any source's window-aligned spikes), or None when the last layer is no read-out."""
    last = net.layers[-1]
    if last.kind not in READOUTS:
        return None
    counts = READOUTS[last.kind].readout(last, np.asarray(trace.spikes[-1]))
    return counts.reshape(counts.shape[0], *last.out_shape, counts.shape[-1])
