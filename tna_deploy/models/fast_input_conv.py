"""The fast engine's first convolution, whose input (the encoded images) needs no gradient, on CPU.

The forward gives ``F.conv2d``'s bits, the call the engine makes for every convolution (so the same numbers).
With the C++ build it is ``dense_conv_forward`` (``csrc/spike_conv.cpp``): each output pixel's
C * KH * KW terms summed in oneDNN's order and rounding, written channels-last; oneDNN's own conv of a
one-channel input is several times slower and answers NCHW, which then takes a copy. Like the spike conv,
the first forward of each shape is checked against ``F.conv2d`` with random full-precision weights, and a
shape that differs runs ``F.conv2d`` from then on (``fast_spike_conv.same_bits``).
The backward is the weight gradient alone, as one matrix product of the unfolded input (built from
kh * kw strided slice copies) with the output gradient read in place (channels-last): oneDNN's general
backward for a one-channel input took several times longer. Its float32 sums over N*T*H*W terms run in
another order than SLAYER's (within the engine's gradient tolerance, tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..engine import cuba_ext
from .fast_spike_conv import same_bits

MAX_COLUMNS = 64  # in_channels * kernel area up to which the unfolded input stays small
# where the C++ forward pays (benchmarks/results/input_conv.json, 640 frames of 28x28 on 2 Zen 3 cores): from
# 32 output channels it ran 1.23-3.76x oneDNN's speed on one input channel and 1.16-2.87x on two or three;
# below, oneDNN's vector blocking mostly wins (0.43-1.68x at 8-16 outputs)
DENSE_MIN_OUT = 32


def applies(h: torch.Tensor, syn) -> bool:
    """For a conv synapse on the network's input: CPU, no gradient wanted for the input, plain conv."""
    return (
        h.device.type == "cpu"
        and h.ndim == 4
        and not h.requires_grad
        and syn.groups == 1
        and h.shape[1] * syn.weight.shape[2] * syn.weight.shape[3] <= MAX_COLUMNS
    )


def conv(h: torch.Tensor, w: torch.Tensor, syn) -> torch.Tensor:
    """``F.conv2d(h, w, ...)`` with ``syn``'s geometry, channels-last, with the weight gradient."""
    geometry = (tuple(syn.stride[:2]), tuple(syn.padding[:2]), tuple(syn.dilation[:2]))
    return _InputConv.apply(h, w, geometry)


def unfold(h: torch.Tensor, kernel, geometry) -> torch.Tensor:
    """(N, C, H, W) -> (C*kh*kw, N*OH*OW): ``F.unfold``'s patches, rows in the weight's (c, i, j) order and
    columns in the output's (n, y, x) order, so that a channels-last gradient multiplies it in place."""
    stride, padding, dilation = geometry
    n, c, height, width = h.shape
    kh, kw = kernel
    oh = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    padded = F.pad(h, (padding[1], padding[1], padding[0], padding[0])).transpose(0, 1)
    out = torch.empty((c, kh, kw, n, oh, ow), dtype=h.dtype, device=h.device)
    for i in range(kh):
        y = i * dilation[0]
        for j in range(kw):
            x = j * dilation[1]
            out[:, i, j].copy_(
                padded[
                    :,
                    :,
                    y : y + stride[0] * (oh - 1) + 1 : stride[0],
                    x : x + stride[1] * (ow - 1) + 1 : stride[1],
                ]
            )
    return out.reshape(c * kh * kw, n * oh * ow)


def forward(h: torch.Tensor, w: torch.Tensor, geometry) -> torch.Tensor:
    """``F.conv2d(h, w, ...)``'s bits, channels-last: the C++ sums where they are checked equal on this shape."""
    if (
        h.dtype == torch.float32
        and w.shape[0] >= DENSE_MIN_OUT
        and w.shape[0] % 8 == 0
        and h.numel()
        and cuba_ext.get() is not None
        and same_bits(
            "input conv",
            h,
            w,
            geometry,
            lambda probe: dense(h, probe, geometry),
            lambda probe: onednn(h, probe, geometry),
        )
    ):
        return dense(h, w, geometry)
    return onednn(h, w, geometry)


def onednn(h: torch.Tensor, w: torch.Tensor, geometry) -> torch.Tensor:
    stride, padding, dilation = geometry
    z = F.conv2d(h, w, None, stride, padding, dilation)
    return z.contiguous(
        memory_format=torch.channels_last
    )  # oneDNN answers a 1-channel input in NCHW


def dense(h: torch.Tensor, w: torch.Tensor, geometry) -> torch.Tensor:
    """The C++ forward: h (N, C, H, W) float32, w (O, C, KH, KW) with O % 8 == 0 -> channels-last."""
    stride, padding, dilation = geometry
    n, _, height, width = h.shape
    o, _, kh, kw = w.shape
    oh = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    z = torch.empty((n, max(oh, 0), max(ow, 0), o), dtype=torch.float32)
    if oh > 0 and ow > 0:
        x = h.permute(0, 2, 3, 1).contiguous()  # a view for one channel or channels-last input
        rows = w.permute(
            2, 3, 1, 0
        ).contiguous()  # (KH, KW, C, O): a row of O weights per tap and channel
        cuba_ext.get().dense_conv_forward(x, rows, z, [*stride, *padding, *dilation])
    return z.permute(0, 3, 1, 2)


class _InputConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w, geometry):
        ctx.save_for_backward(h)
        ctx.geometry = geometry
        ctx.kernel = tuple(w.shape[2:])
        return forward(h, w.detach(), geometry)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[1]:
            return None, None, None
        (h,) = ctx.saved_tensors
        co = grad.shape[1]
        g = grad.permute(0, 2, 3, 1).reshape(-1, co)  # a view when grad is channels-last
        grad_w = torch.mm(unfold(h, ctx.kernel, ctx.geometry), g)  # (C*kh*kw, Co)
        return None, grad_w.t().reshape(co, h.shape[1], *ctx.kernel), None
