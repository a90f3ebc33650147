"""``conv``: a 2-D convolution (pools are grouped convs), raw integer weights as Lava's
``PyConvModelFixed`` uses them; netx requires its neuron."""

from __future__ import annotations

import numpy as np

from ..h5 import bias, integers, ints, pair, scalar
from .base import LayerKind, NetxContext

NEEDS = "a conv layer needs shape, weight, stride, padding, dilation, groups and a neuron"


def conv_out_hw(
    h: int, w: int, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple
) -> tuple:
    return tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip((h, w), kernel, stride, padding, dilation)
    )


class Conv(LayerKind):
    name = "conv"
    compute = True

    @staticmethod
    def check(layer) -> None:
        w = layer.weight
        if len(layer.in_shape) != 3 or len(layer.out_shape) != 3 or w.ndim != 4:
            raise ValueError(
                f"conv needs (C, H, W) shapes and 4-D weights, got {layer.in_shape} -> "
                f"{layer.out_shape}, weights {w.shape}"
            )
        c_in, h, wd = layer.in_shape
        g = layer.groups
        if g < 1 or c_in % g or w.shape[0] % g or w.shape[1] * g != c_in:
            raise ValueError(f"weights {w.shape} with groups {g} do not take {c_in} input channels")
        if min(layer.stride) < 1 or min(layer.dilation) < 1 or min(layer.padding) < 0:
            raise ValueError(
                f"stride {layer.stride}, padding {layer.padding}, dilation {layer.dilation}"
            )
        reach = tuple(d * (k - 1) for d, k in zip(layer.dilation, w.shape[2:]))
        if any(p > r for p, r in zip(layer.padding, reach)):
            raise ValueError(  # a cost bound before anything is built: such outputs see only zeros
                f"padding {layer.padding} exceeds the kernel's reach {reach} (dilation x (kernel - 1)): "
                f"the outputs beyond it would see only padding; the file is damaged or crafted"
            )
        expect = (w.shape[0],) + conv_out_hw(
            h, wd, w.shape[2:], layer.stride, layer.padding, layer.dilation
        )
        if expect != layer.out_shape:
            raise ValueError(
                f"shape {layer.out_shape} is not the output shape {expect} of weights {w.shape} "
                f"with stride {layer.stride}, padding {layer.padding}, dilation {layer.dilation}"
            )

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        g, read = ctx.group, ctx.read
        if "neuron" not in g:
            raise ValueError("conv layer without a neuron (netx requires one)")
        if ctx.shape is None:
            raise ValueError("the first layer is a conv and the file has no input shape")
        out = ints(read(g, "shape", NEEDS), "shape")
        w = integers(read(g, "weight", NEEDS), "weight")
        if w.ndim < 4:
            raise ValueError(f"weight of shape {w.shape}, expected (out, in / groups, kH, kW)")
        w = w.reshape(w.shape[:4])
        return ctx.layer(
            "conv",
            ctx.index,
            ctx.shape,
            out,
            neuron,
            w,
            bias(g, out, read),
            pair(read(g, "stride", NEEDS), "stride"),
            pair(read(g, "padding", NEEDS), "padding"),
            pair(read(g, "dilation", NEEDS), "dilation"),
            scalar(read(g, "groups", NEEDS), "groups"),
        )

    @staticmethod
    def write_netx(g, layer) -> None:
        g.create_dataset("weight", data=layer.weight)
        for key in ("stride", "padding", "dilation"):
            g.create_dataset(key, data=np.array(getattr(layer, key), dtype=np.int64))
        g.create_dataset("groups", data=layer.groups)
        g.create_dataset("inChannels", data=layer.in_shape[0])
        g.create_dataset("outChannels", data=layer.out_shape[0])
        g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
