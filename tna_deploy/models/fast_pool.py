"""The fast engine's pool synapse on CPU: SLAYER's pool block, a grouped convolution with one fixed
weight per tap (no gradient), kernel == stride, no padding or dilation.

The forward is ``F.conv2d`` itself, the call the engine makes for every convolution (so the same numbers).
The backward is the input gradient alone: the windows do not overlap, so each input pixel takes one
product, ``grad_out[window] * w[tap]`` (none where the window grid leaves a border), written as one
broadcast into channels-last memory (``csrc/spike_conv.cpp``'s ``pool_input_grad``, one pass, where the C++
build is available). Every value is the single product oneDNN's grouped backward computes
(bit-identical, tested), at a fraction of its time (its general kernel took 12 ms per CIFARNet 1/8 pool).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..engine import cuba_ext


def applies(h: torch.Tensor, syn) -> bool:
    """A pool synapse on CPU: fixed per-channel taps over non-overlapping windows, input gradient wanted."""
    w = syn.weight
    kernel = tuple(w.shape[2:4])
    return (
        h.device.type == "cpu"
        and h.ndim == 4
        and not w.requires_grad
        and syn.groups == h.shape[1] == w.shape[0]
        and w.shape[1] == 1
        and tuple(syn.stride[:2]) == kernel
        and tuple(syn.padding[:2]) == (0, 0)
        and tuple(syn.dilation[:2]) == (1, 1)
    )


def conv(h: torch.Tensor, w: torch.Tensor, syn) -> torch.Tensor:
    """``F.conv2d(h, w, stride=kernel, groups=C)``, channels-last, with the input gradient."""
    return _Pool.apply(h, w.detach())


class _Pool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w):
        ctx.save_for_backward(w)
        ctx.in_hw = tuple(h.shape[2:])
        kernel = tuple(w.shape[2:4])
        z = F.conv2d(h, w, None, kernel, 0, 1, h.shape[1])
        return z.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        n, c, ho, wo = grad.shape
        kh, kw = w.shape[2:4]
        height, width = ctx.in_hw
        fused = cuba_ext.get()
        if fused is not None and grad.dtype == torch.float32:  # one pass in C++, the same products
            g = grad.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
            taps = w[:, 0].permute(1, 2, 0).contiguous()  # (kh, kw, C)
            out = torch.empty((n, height, width, c), dtype=torch.float32)
            fused.pool_input_grad(g, taps, out)
            return out.permute(0, 3, 1, 2), None
        g = grad.permute(0, 2, 3, 1)  # (N, Ho, Wo, C): a view when grad is channels-last
        taps = w[:, 0].permute(1, 2, 0)  # (kh, kw, C)
        spread = torch.empty((n, ho, kh, wo, kw, c), dtype=grad.dtype)
        torch.mul(g[:, :, None, :, None, :], taps[None, None, :, None, :, :], out=spread)
        out = spread.reshape(n, ho * kh, wo * kw, c)
        if (ho * kh, wo * kw) != (height, width):  # the border no window covers: no gradient
            out = F.pad(out, (0, 0, 0, width - wo * kw, 0, height - ho * kh))
        return out.permute(0, 3, 1, 2), None
