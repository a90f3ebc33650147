"""``unpool``: lava-dl SLAYER's ``block.cuba.Unpool`` (netx raises NotImplementedError on it), a
transposed convolution of each channel with one kernel, followed by SLAYER's CUBA neuron.

What SLAYER computes (``slayer/synapse/layer.py`` ``Unpool.forward``): the input's channels are stacked
into one (C*H, W) image, ``conv_transpose`` of it with the one kernel (1, 1, kH, kW) (``weight_scale``
quantized: 64 per tap for the default 1.0), stride, padding and dilation (no output padding), cut back
into C channels. The file holds that kernel as integers, ``kernelSize``, ``stride``, ``padding``,
``dilation`` (H, W) and the output ``shape``.

tna-deploy runs it as what it means on Loihi: each channel alone spread through that kernel (a
transposed convolution with ``groups=C``, raw integer weights, the sum wrapped to 24 bits as Lava's
``Conv`` wraps it). That equals SLAYER's stacked one exactly when each channel's rows land in its own
block of output rows: a height padding of 0 (SLAYER's crops only the first and last channel) and
``dilation * (kH - 1) + 1`` equal to the height stride (SLAYER's default, stride = kernel, is such);
or always when there is one channel. Every other unpool is refused, naming the reason: there SLAYER's output mixes or misplaces
neighbouring channels' rows.
"""

from __future__ import annotations

from .base import LayerKind, NetxContext
from .window import check_geometry, check_shared_kernel, read_window, transposed_hw, write_window

NEEDS = "an unpool layer needs shape, weight, stride, padding, dilation and a neuron"


class Unpool(LayerKind):
    name = "unpool"
    compute = True

    @staticmethod
    def check(layer) -> None:
        check_geometry(layer, "unpool")
        check_shared_kernel(layer, "unpool")
        kernel = layer.weight.shape[2:]
        (s_h, _), (p_h, _), (d_h, _) = layer.stride, layer.padding, layer.dilation
        c, h, w = layer.in_shape
        if c > 1 and p_h:
            raise ValueError(
                f"padding {layer.padding}: SLAYER's unpool crops its channel-stacked (C*H) axis, so "
                f"a height padding crops only the first and last channel; only a height padding of 0 runs"
            )
        if c > 1 and d_h * (kernel[0] - 1) + 1 != s_h:
            raise ValueError(
                f"kernel {kernel} with stride {layer.stride}, dilation {layer.dilation}: SLAYER's "
                f"unpool spreads the channel-stacked C*H axis, so each channel's rows land in its own "
                f"block only when dilation * (kH - 1) + 1 equals the height stride"
            )
        expect = (c,) + transposed_hw(h, w, kernel, layer.stride, layer.padding, layer.dilation)
        if expect != layer.out_shape:
            raise ValueError(
                f"shape {layer.out_shape} is not the unpool's output {expect} of {layer.in_shape} "
                f"with kernel {kernel}, stride {layer.stride}, padding {layer.padding}, "
                f"dilation {layer.dilation}"
            )

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        return ctx.layer(**read_window(ctx, "unpool", NEEDS), neuron=neuron)

    @staticmethod
    def write_netx(g, layer) -> None:
        write_window(g, layer)
