"""What every layer kind provides (``LayerKind``), and what a netx reader hands it (``NetxContext``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class NetxContext:
    """One layer group being read: its index, the previous layer's output shape (None before the
    first), whether the previous layer is a flatten, the bounded dataset reader, and what builds a layer."""

    group: object
    index: int
    shape: Optional[tuple]
    after_flatten: bool
    read: Callable
    layer: Callable  # the IR's Layer class, handed in so that a kind never imports the IR back


NOT_LAST = "a read-out of spike counts, which no synapse on Loihi takes: it must be the last layer"


class LayerKind:
    """A layer kind: its validation of an IR ``Layer``, and its netx reader and writer. ``compute``
        kinds carry weights and a neuron (netx's default one when the file has none); the reader of a file
    reads the neuron and hands it to ``read_netx``."""

    name = ""
    compute = False
    optional_neuron = False  # may have a neuron of its own (an input layer)
    readout = False  # a host-side read-out of the layer before it: no neuron, only the last layer
    extra_weights: tuple = ()  # the Layer's second weight fields it takes (weight_rec, weight_imag)
    complex_synapse = False  # sends (real, imag) to a resonator neuron (``neuron.complex_input``)
    netx_type = ""  # the netx ``type`` it is written as, when not its name

    @classmethod
    def read_as(cls, group) -> str:
        """The kind that reads a group of this netx ``type`` (netx reads some groups as another kind)."""
        return cls.name

    @staticmethod
    def check(layer) -> None:
        """Raise ``ValueError`` naming the field when ``layer`` is not a valid layer of this kind."""

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        """The IR ``Layer`` of a netx layer group (``neuron``: the group's, or netx's default)."""
        raise NotImplementedError

    @staticmethod
    def write_netx(g, layer) -> None:
        """The kind's own datasets (type, shape, neuron and bias are written for every kind)."""

    @staticmethod
    def weight_bits(layer) -> int:
        return 8
