"""``flatten``: (C, H, W) to (C*H*W,), torch's order (netx transposes Lava's W, H, C back to it)."""

from __future__ import annotations

import math

from .base import LayerKind, NetxContext


class Flatten(LayerKind):
    name = "flatten"

    @staticmethod
    def check(layer) -> None:
        if math.prod(layer.out_shape) != math.prod(layer.in_shape):
            raise ValueError(f"flatten of {layer.in_shape} cannot have shape {layer.out_shape}")

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        if ctx.shape is None:
            raise ValueError("flatten before any layer with a shape")
        return ctx.layer("flatten", ctx.index, ctx.shape, (math.prod(ctx.shape),))
