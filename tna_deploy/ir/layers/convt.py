"""``convT``: lava-dl SLAYER's ``block.cuba.ConvT`` (netx raises NotImplementedError on it), a
transposed 2-D convolution followed by SLAYER's CUBA neuron.

SLAYER computes torch's ``conv_transpose`` with the quantized weights, stride, padding, dilation and
groups, and no output padding (``slayer/synapse/layer.py`` ``ConvTranspose``). The file holds the
weights as integers in torch's transposed layout (in, out / groups, kH, kW), ``inChannels``,
``outChannels``, ``kernelSize``, ``stride``, ``padding``, ``dilation`` (H, W), ``groups``, the
output ``shape``, and a per-channel ``bias`` when the block has a norm.

tna-deploy runs exactly that on integers: each input spike adds its kernel to the outputs it reaches
(raw integer weights, as Lava's ``Conv`` uses conv weights), the sum wrapped to 24 bits as Lava's
``Conv`` wraps it, then the neuron.
"""

from __future__ import annotations

from ..h5 import scalar
from .base import LayerKind, NetxContext
from .window import check_geometry, read_window, transposed_hw, write_window

NEEDS = "a convT layer needs shape, weight, stride, padding, dilation, groups and a neuron"


class ConvT(LayerKind):
    name = "convT"
    compute = True

    @staticmethod
    def check(layer) -> None:
        check_geometry(layer, "convT")
        w, g = layer.weight, layer.groups
        c_in, h, wd = layer.in_shape
        if g < 1 or w.shape[0] != c_in or c_in % g:
            raise ValueError(
                f"weights {w.shape} (in, out / groups, kH, kW) with groups {g} do not take "
                f"{c_in} input channels"
            )
        expect = (w.shape[1] * g,) + transposed_hw(
            h, wd, w.shape[2:], layer.stride, layer.padding, layer.dilation
        )
        if expect != layer.out_shape:
            raise ValueError(
                f"shape {layer.out_shape} is not the output shape {expect} of weights {w.shape} "
                f"with stride {layer.stride}, padding {layer.padding}, dilation {layer.dilation}"
            )

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        groups = scalar(ctx.read(ctx.group, "groups", NEEDS), "groups")
        return ctx.layer(**read_window(ctx, "convT", NEEDS), neuron=neuron, groups=groups)

    @staticmethod
    def write_netx(g, layer) -> None:
        write_window(g, layer)
        g.create_dataset("groups", data=layer.groups)
        g.create_dataset("inChannels", data=layer.in_shape[0])
        g.create_dataset("outChannels", data=layer.out_shape[0])
