"""What every neuron kind gives the emulator (``NeuronRun``), and what it returns (``NeuronOut``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class NeuronOut:
    """One layer's neurons over a window or stream, each (T, K, *shape) in the synapse's order.

    ``out``: the values the layer sends (0/1 spikes, or graded integers), float32 or float64, exact;
    ``out_max``: a bound on |out| (the next synapse picks its float width from it); ``graded``: out is
    not 0/1; ``u`` / ``v``: the recorded state (float64 integers) when asked, named as the kind's Lava
    Vars are mapped in ``Trace.current`` / ``Trace.voltage``."""

    out: torch.Tensor
    out_max: float
    graded: bool = False
    u: Optional[torch.Tensor] = None
    v: Optional[torch.Tensor] = None


class NeuronRun:
    """A neuron kind's dynamics over a window, from rest. ``resets``: Lava's process for the kind
    honours netx's ``reset_interval`` (sigma-delta neurons do not: they run as one stream).
    ``bias_shift``: a bias mantissa enters the state as ``bias << bias_shift``."""

    resets = True
    bias_shift = 6

    @staticmethod
    def run(a, a_max: float, neuron, bias, record: bool, own: bool) -> NeuronOut:
        """``a``: the synaptic input (T, K, *shape) of integers as Lava's synapse sends it (a tuple
        (real, imag) for a complex synapse), bounded by ``a_max``; ``bias`` in state units (broadcast against one step) or
        None; ``record``: keep u / v; ``own``: ``a`` is the emulator's scratch buffer (may be
        overwritten). The readout's logits are ``v[-1] / 4096``: every kind records v on request."""
        raise NotImplementedError
