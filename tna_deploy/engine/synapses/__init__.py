"""The emulator's synapse of each layer kind, registered by the IR's kind name: how a layer's input spikes
become its synaptic input ``a_in`` exactly as Lava's fixed-point models compute it. A new kind is one
module here plus one line below (and its IR kind in ``ir/layers/``); a read-out kind (no neuron, the last
layer, computed on the host) likewise in ``READOUTS``."""

from __future__ import annotations

from .average import Average
from .base import Prepared, Readout, Synapse
from .conv import Conv
from .convt import ConvT
from .dense import Dense
from .dense_comp import DenseComp
from .dense_rec import DenseRec
from .input import Input
from .pool import Pool
from .unpool import Unpool

SYNAPSES: dict[str, type[Synapse]] = {
    "input": Input,
    "conv": Conv,
    "dense": Dense,
    "pool": Pool,
    "unpool": Unpool,
    "convT": ConvT,
    "dense_comp": DenseComp,
    "dense_rec": DenseRec,
}
READOUTS: dict[str, type[Readout]] = {"average": Average}

__all__ = ["READOUTS", "SYNAPSES", "Prepared", "Readout", "Synapse"]
