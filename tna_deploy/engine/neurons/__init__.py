"""The emulator's dynamics of each neuron kind, registered by the IR neuron's ``family``: one kernel per
kind (the CUBA one is shared with the fast training engine). A new kind is one module here plus one
line below (and its IR kind in ``ir/neurons/``)."""

from __future__ import annotations

from .base import NeuronOut, NeuronRun
from .cuba import Cuba
from .rf import RF
from .sdnn import SigmaDelta

NEURON_RUNS: dict[str, type[NeuronRun]] = {"cuba": Cuba, "rf": RF, "sdnn": SigmaDelta}

__all__ = ["NEURON_RUNS", "NeuronOut", "NeuronRun"]
