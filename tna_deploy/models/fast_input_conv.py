"""The fast engine's first convolution, whose input (the encoded images) needs no gradient, on CPU.

The forward is ``F.conv2d`` itself, the call the engine makes for every convolution (so the same numbers).
The backward is the weight gradient alone, as one matrix product of the unfolded input (built from
kh * kw strided slice copies) with the output gradient read in place (channels-last): oneDNN's general
backward for a one-channel input took several times longer. Its float32 sums over N*T*H*W terms run in
another order than SLAYER's (within the engine's gradient tolerance, tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MAX_COLUMNS = 64  # in_channels * kernel area up to which the unfolded input stays small


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


class _InputConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w, geometry):
        ctx.save_for_backward(h)
        ctx.geometry = geometry
        ctx.kernel = tuple(w.shape[2:])
        stride, padding, dilation = geometry
        z = F.conv2d(h, w.detach(), None, stride, padding, dilation)
        return z.contiguous(
            memory_format=torch.channels_last
        )  # oneDNN answers a 1-channel input in NCHW

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[1]:
            return None, None, None
        (h,) = ctx.saved_tensors
        co = grad.shape[1]
        g = grad.permute(0, 2, 3, 1).reshape(-1, co)  # a view when grad is channels-last
        grad_w = torch.mm(unfold(h, ctx.kernel, ctx.geometry), g)  # (C*kh*kw, Co)
        return None, grad_w.t().reshape(co, h.shape[1], *ctx.kernel), None
