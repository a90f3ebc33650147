"""What every synapse kind provides to the emulator (``Synapse``), and what it prepares once (``Prepared``);
what a read-out kind provides (``Readout``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch


@dataclass
class Prepared:
    layer: object  # the IR Layer
    weight: Optional[torch.Tensor] = None  # conv: file weights; dense: after Lava's truncation
    row_sum: float = 0.0  # max over outputs of sum |w|: bounds the sum
    weight_exp: int = 0
    delays: list = field(default_factory=list)  # dense: [(d, weight of the synapses with delay d)]
    bias: object = 0  # state units, broadcast against one step (K, *shape)
    extra: dict = field(default_factory=dict)  # what else a kind prepares (dense_comp: both parts)


class Synapse:
    """A layer kind's synapse. ``channels_last``: its a_in is (T, K, H, W, C) (the neuron runs in that
    order and the emulator views the spikes back as (C, H, W))."""

    channels_last = False
    recurrent = False  # runs its neurons itself, step by step (``run_neurons``)
    scatter = (
        False  # prepares ``extra["taps"]``: fused with its CUBA neurons where it can (``scatter``)
    )

    @staticmethod
    def prepare(p: Prepared) -> None:
        """Fill ``p`` from ``p.layer`` once (weights as tensors, bounds)."""

    @staticmethod
    def run(emulator, i: int, p: Prepared, prev: torch.Tensor, prev_max: float) -> tuple:
        """The layer's synaptic input a_in (T, K, *out_shape) in its own window's time frame, and a bound
        on its magnitude. ``prev`` (T, K, *in_shape) are the input values, bounded by ``prev_max``."""
        raise NotImplementedError

    @staticmethod
    def run_neurons(emulator, i: int, p: Prepared, a, a_max: float, bias, record: bool):
        """A ``recurrent`` kind's neurons over ``a`` (the emulator's window or stream), as a
        ``NeuronOut``: the layer's own spikes feed back into its synaptic input."""
        raise NotImplementedError


class Readout:
    """A read-out kind (no neuron, the last layer): computed on the host from the spike raster of the
    compute layer before it (``engine.readout``)."""

    @staticmethod
    def readout(layer, spikes: np.ndarray) -> np.ndarray:
        """The read-out (K, *out_shape, T) of ``spikes`` (K, *shape, T), the raster of the compute
        layer before it, in that layer's window."""
        raise NotImplementedError
