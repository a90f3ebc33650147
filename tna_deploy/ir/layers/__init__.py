"""The layer kinds, one module each, registered by their netx ``type``. A kind validates an IR
``Layer`` of its kind and reads and writes its netx group (``base.LayerKind``); a new kind is one
module plus one line here (and its emulator step)."""

from __future__ import annotations

from .base import LayerKind, NetxContext
from .conv import Conv, conv_out_hw
from .dense import MAX_DELAY, Dense, DenseWeights, dense_weight_bits
from .dense_comp import DenseComp
from .dense_rec import DenseRec, dense_rec_weight_bits
from .flatten import Flatten
from .input import Input

LAYER_KINDS: dict[str, type[LayerKind]] = {
    "input": Input,
    "conv": Conv,
    "dense": Dense,
    "flatten": Flatten,
    "dense_comp": DenseComp,
    "dense_rec": DenseRec,
}

__all__ = [
    "LAYER_KINDS",
    "MAX_DELAY",
    "DenseWeights",
    "LayerKind",
    "NetxContext",
    "conv_out_hw",
    "dense_rec_weight_bits",
    "dense_weight_bits",
]
