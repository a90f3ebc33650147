"""``pool``: lava-dl SLAYER's ``block.cuba.Pool`` (netx raises NotImplementedError on it), a sum pool
followed by SLAYER's CUBA neuron.

What SLAYER computes (``slayer/synapse/layer.py`` ``Pool.forward``): the input (C, H, W) is zero-padded
at the bottom by ``H % kH`` rows and at the right by ``W % kW`` columns (sic: ``%``, not up to the next
multiple), its channels are stacked into one (C*H', W') image, that image is convolved with the one
kernel (1, 1, kH, kW) (``weight_scale`` quantized: 64 per tap for the default 1.0) with the block's
stride, padding and dilation, and the result is cut back into C channels. The file holds that kernel
as integers, ``kernelSize``, ``stride``, ``padding``, ``dilation`` (H, W) and the output ``shape``.

tna-deploy runs it as what it means on Loihi: a convolution of each channel alone with that kernel
(Lava's ``Conv`` with ``groups=C``, raw integer weights, the sum wrapped to 24 bits), after the same
bottom / right zero rows. That equals SLAYER's stacked convolution exactly when no window of it
reaches from one channel into the next: a height padding of 0 (SLAYER's would pad only the first and
last channel), ``H'`` a multiple of the height stride, and the kernel's reach ``dilation * (kH - 1)``
below that stride; or always when there is one channel. Every other pool is refused, naming the
reason: there SLAYER's output mixes neighbouring channels, which is an artefact of its stacking and
no pool a chip would run (with some such geometries SLAYER itself fails, unable to cut the stacked
result back into C channels).
"""

from __future__ import annotations

from .base import LayerKind, NetxContext
from .conv import conv_out_hw
from .window import check_geometry, check_shared_kernel, read_window, write_window

NEEDS = "a pool layer needs shape, weight, stride, padding, dilation and a neuron"


def padded_hw(h: int, w: int, kernel: tuple) -> tuple:
    """SLAYER's pool input size after its odd-size padding: ``H + H % kH``, ``W + W % kW``."""
    return h + h % kernel[0], w + w % kernel[1]


class Pool(LayerKind):
    name = "pool"
    compute = True

    @staticmethod
    def check(layer) -> None:
        check_geometry(layer, "pool")
        check_shared_kernel(layer, "pool")
        kernel = layer.weight.shape[2:]
        (s_h, _), (p_h, _), (d_h, d_w) = layer.stride, layer.padding, layer.dilation
        c, h, w = layer.in_shape
        hp, wp = padded_hw(h, w, kernel)
        if c > 1 and p_h:
            raise ValueError(
                f"padding {layer.padding}: SLAYER's pool pads its channel-stacked (C*H) axis, so a "
                f"height padding pads only the first and last channel; only a height padding of 0 runs"
            )
        if c > 1 and (hp % s_h or d_h * (kernel[0] - 1) >= s_h):
            raise ValueError(
                f"kernel {kernel} with stride {layer.stride}, dilation {layer.dilation} on {h} (padded "
                f"{hp}) rows: SLAYER's pool windows would reach from one channel into the next "
                f"(it pools the channel-stacked C*H axis); only pools whose windows stay in a channel run"
            )
        reach = (d_h * (kernel[0] - 1), d_w * (kernel[1] - 1))
        if any(pad > r for pad, r in zip(layer.padding, reach)):
            raise ValueError(
                f"padding {layer.padding} exceeds the kernel's reach {reach}: outputs would see only "
                f"padding"
            )
        expect = (c,) + conv_out_hw(hp, wp, kernel, layer.stride, layer.padding, layer.dilation)
        if expect != layer.out_shape:
            raise ValueError(
                f"shape {layer.out_shape} is not the pool's output {expect} of {layer.in_shape} "
                f"with kernel {kernel}, stride {layer.stride}, padding {layer.padding}, "
                f"dilation {layer.dilation}"
            )

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        return ctx.layer(**read_window(ctx, "pool", NEEDS), neuron=neuron)

    @staticmethod
    def write_netx(g, layer) -> None:
        write_window(g, layer)
