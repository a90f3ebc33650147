"""``input``: the network's input, with its shape; with a neuron, inputs enter the neuron's ``a_in``."""

from __future__ import annotations

from ..h5 import ints
from .base import LayerKind, NetxContext


class Input(LayerKind):
    name = "input"
    optional_neuron = True

    @staticmethod
    def check(layer) -> None:
        if layer.in_shape != layer.out_shape:
            raise ValueError(f"input layer shapes differ: {layer.in_shape} vs {layer.out_shape}")

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        out = ints(ctx.read(ctx.group, "shape", "an input layer needs its shape"), "shape")
        return ctx.layer("input", ctx.index, out, out, neuron=neuron)
