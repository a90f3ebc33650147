"""The emulator's synapse of each layer kind, registered by the IR's kind name: how a layer's input spikes
become its synaptic input ``a_in`` exactly as Lava's fixed-point models compute it. A new kind is one
module here plus one line below (and its IR kind in ``ir/layers/``)."""

from __future__ import annotations

from .base import Prepared, Synapse
from .conv import Conv
from .dense import Dense
from .dense_comp import DenseComp
from .dense_rec import DenseRec
from .input import Input

SYNAPSES: dict[str, type[Synapse]] = {
    "input": Input,
    "conv": Conv,
    "dense": Dense,
    "dense_comp": DenseComp,
    "dense_rec": DenseRec,
}

__all__ = ["SYNAPSES", "Prepared", "Synapse"]
