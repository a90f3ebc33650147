"""The layer kinds, one module each, registered by their netx ``type``. A kind validates an IR
``Layer`` of its kind and reads and writes its netx group (``base.LayerKind``); a new kind is one
module plus one line here (and its emulator step). Types refused outright, with their reason, are in
``refused.py``."""

from __future__ import annotations

from .average import Average
from .base import NOT_LAST, LayerKind, NetxContext
from .conv import Conv, conv_out_hw
from .convt import ConvT
from .dense import MAX_DELAY, Dense, DenseWeights, dense_weight_bits
from .dense_comp import DenseComp
from .dense_rec import DenseRec, dense_rec_weight_bits
from .flatten import Flatten
from .input import Input
from .pool import Pool, padded_hw
from .refused import REFUSED_KINDS
from .unpool import Unpool

LAYER_KINDS: dict[str, type[LayerKind]] = {
    "input": Input,
    "conv": Conv,
    "dense": Dense,
    "flatten": Flatten,
    "pool": Pool,
    "unpool": Unpool,
    "convT": ConvT,
    "average": Average,
    "dense_comp": DenseComp,
    "dense_rec": DenseRec,
}

__all__ = [
    "LAYER_KINDS",
    "MAX_DELAY",
    "NOT_LAST",
    "DenseWeights",
    "LayerKind",
    "NetxContext",
    "REFUSED_KINDS",
    "conv_out_hw",
    "dense_rec_weight_bits",
    "dense_weight_bits",
    "padded_hw",
]
