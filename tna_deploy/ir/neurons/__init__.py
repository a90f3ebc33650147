"""The neuron kinds, one module each, registered by the netx ``neuron/type`` they read. A neuron
kind is a frozen dataclass validated on creation, with ``read_netx(group, read, type, is_input=)``,
``write_netx(layer_group)`` and ``family`` (the emulator's kernel in ``engine/neurons/``), and
optionally ``check_layer(layer)`` (what it asks of its layer); a new kind is one module plus one line
here (and its kernel there)."""

from __future__ import annotations

from ..h5 import text
from .cuba import NETX_DEFAULT, Neuron
from .rf import RFNeuron
from .sdnn import SigmaDeltaNeuron

NEURON_KINDS = {"CUBA": Neuron, "LOIHI": Neuron, "RF": RFNeuron, "SDNN": SigmaDeltaNeuron}


def read_neuron(g, read, is_input: bool = False):
    """The neuron of layer group ``g``: its ``neuron`` group, else netx's default one. ``is_input``: the
    group is the input layer (netx builds some kinds differently there: a sigma-delta input is Delta)."""
    if "neuron" not in g:
        return NETX_DEFAULT
    n = g["neuron"]
    kind = text(read(n, "type", "a neuron needs its type"))
    key = kind if kind in NEURON_KINDS else "RF" if "RF" in kind else None  # netx: "RF" in type
    if key not in NEURON_KINDS:
        raise ValueError(f"neuron type {kind!r}: only {' / '.join(NEURON_KINDS)} neurons run")
    return NEURON_KINDS[key].read_netx(n, read, kind, is_input=is_input)


__all__ = ["NEURON_KINDS", "NETX_DEFAULT", "Neuron", "RFNeuron", "SigmaDeltaNeuron", "read_neuron"]
