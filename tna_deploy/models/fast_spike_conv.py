"""The fast engine's convolution of a spiking layer's output, on CPU: the work follows the spikes.

A conv after a spiking block reads mostly zeros (0/1 spikes, or 0 and 1/(1-p) after dropout), so
``csrc/spike_conv.cpp`` (part of the fused torch extension, on torch's own threads) works over the nonzero
inputs only:

* **forward**: every output pixel sums ``fma(weight, input, acc)`` tap by tap in kernel order and over its
  active input channels in order, from +0. That is the order and single rounding of oneDNN's float32
  direct convolution, so skipping zeros changes no bit: the result equals ``F.conv2d``'s (and so stock
  SLAYER's, wherever the engine's ``F.conv2d`` did). The order is oneDNN's choice, not a contract: the
  first forward of each shape is checked against ``F.conv2d`` with random full-precision weights, and a
  shape where they differ runs oneDNN's conv from then on (logged once).
* **weight gradient**: ``dW[o, c, ky, kx]`` summed over the active inputs, per channel and tap in registers:
  float32 sums in another order than oneDNN's (within the engine's gradient tolerance, tested).
* **input gradient**: oneDNN's own (the output gradient is dense: there is nothing to skip).

Where each pays was measured (``benchmarks/spike_conv.py``): the forward from 32 input channels while at
most 30 % of the inputs are nonzero, the weight gradient up to 20 % (40 % from 16 input channels); the
density is estimated per call on a sample of the batch. Either forward gives the same bits. It applies
to ungrouped stride-1 convs over a spiking layer's output with output channels a multiple of 8 (the
vector width); anything else, or no C++ build, runs ``F.conv2d``.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ..engine import cuba_ext

log = logging.getLogger(__name__)

# where the work over nonzero inputs pays (benchmarks/results/spike_conv.json, CIFARNet's convs at widths
# 1/16-1/4, 320 images, on 2 Zen 3 cores): the forward gather ran 0.89-3.2x oneDNN's speed from 32 input
# channels at 10-30 % active inputs (0.75-1.07x at 40 %) and 0.32-1.18x below 32 channels; the weight
# gradient 1.3-4.5x up to 20 % active, 1.1-2.5x at 30-40 % from 16 input channels, 0.81-0.96x below 16
FORWARD_MIN_IN = 32
FORWARD_MAX_DENSITY = 0.3
WGRAD_MAX_DENSITY = 0.2
WGRAD_MAX_DENSITY_WIDE = 0.4  # from WGRAD_WIDE_IN input channels
WGRAD_WIDE_IN = 16
SAMPLE_IMAGES = 16  # images of the batch whose nonzero inputs estimate its density

# (kind, input shape, weight shape, geometry) -> whether our sums equal oneDNN's conv bit for bit there
_checked: dict = {}


def applies(h: torch.Tensor, syn, spikes: bool) -> bool:
    """Whether the conv of ``syn`` on ``h`` runs here: ``spikes`` says ``h`` is a spiking layer's output."""
    w = syn.weight
    return (
        spikes
        and h.device.type == "cpu"
        and h.dtype == torch.float32
        and h.ndim == 4
        and syn.groups == 1
        and tuple(syn.stride[:2]) == (1, 1)
        and w.shape[0] % 8 == 0
        and all(
            p <= d * (k - 1) for p, d, k in zip(syn.padding[:2], syn.dilation[:2], w.shape[2:4])
        )
        and h.is_contiguous(memory_format=torch.channels_last)
        and cuba_ext.get() is not None
    )


def density(h: torch.Tensor) -> float:
    """The fraction of nonzero inputs, estimated on SAMPLE_IMAGES images spread over the batch."""
    step = max(1, h.shape[0] // SAMPLE_IMAGES)
    sample = h[::step]
    return int(torch.count_nonzero(sample)) / max(1, sample.numel())


def conv(h: torch.Tensor, w: torch.Tensor, syn) -> torch.Tensor:
    """``F.conv2d(h, w, ...)`` with ``syn``'s padding and dilation (stride 1), channels-last, bit for bit,
    with both gradients."""
    d, c = density(h), h.shape[1]
    gather = c >= FORWARD_MIN_IN and d <= FORWARD_MAX_DENSITY and _gather_exact(h, w, syn)
    sparse_wgrad = d <= (WGRAD_MAX_DENSITY_WIDE if c >= WGRAD_WIDE_IN else WGRAD_MAX_DENSITY)
    geometry = (tuple(syn.padding[:2]), tuple(syn.dilation[:2]))
    return _SpikeConv.apply(h, w, geometry, gather, sparse_wgrad)


def _gather_exact(h: torch.Tensor, w: torch.Tensor, syn) -> bool:
    """Whether the gather equals oneDNN's conv bit for bit on this shape (``same_bits``)."""
    padding, dilation = tuple(syn.padding[:2]), tuple(syn.dilation[:2])
    return same_bits(
        "spike conv",
        h,
        w,
        (padding, dilation),
        lambda probe: forward(h, probe, padding, dilation),
        lambda probe: onednn(h, probe, padding, dilation),
    )


def same_bits(kind: str, h: torch.Tensor, w: torch.Tensor, geometry, ours, theirs) -> bool:
    """Whether ``ours(weight)`` equals ``theirs(weight)`` (oneDNN's conv) bit for bit on this input and
    weight shape and ``geometry``: checked once per shape on ``h`` with random full-precision weights
    (on a weight grid such as the base's 1/64 every order gives the same sums); a shape that differs is
    logged once and answered False from then on."""
    key = (kind, tuple(h.shape), tuple(w.shape), geometry)
    if key not in _checked:
        probe = torch.randn(w.shape, generator=torch.Generator().manual_seed(0)) * 0.1
        with torch.no_grad():
            same = torch.equal(ours(probe), theirs(probe))
        _checked[key] = same
        if not same:
            log.warning(
                "the %s's sums differ from this machine's oneDNN conv on input %s, weight %s: "
                "that shape runs oneDNN's conv",
                kind,
                tuple(h.shape),
                tuple(w.shape),
            )
    return _checked[key]


def onednn(h: torch.Tensor, w: torch.Tensor, padding, dilation) -> torch.Tensor:
    """The engine's plain conv: oneDNN on channels-last input and weight, answered channels-last."""
    w = w.contiguous(memory_format=torch.channels_last)
    return F.conv2d(h, w, None, 1, padding, dilation).contiguous(memory_format=torch.channels_last)


def _out_size(size: int, k: int, pad: int, dil: int) -> int:
    return size + 2 * pad - dil * (k - 1)


def forward(h: torch.Tensor, w: torch.Tensor, padding, dilation) -> torch.Tensor:
    """The gather forward: h (N, C, H, W) channels-last, w (O, C, KH, KW) -> (N, O, OH, OW) channels-last."""
    n, c, height, width = h.shape
    o, _, kh, kw = w.shape
    oh = _out_size(height, kh, padding[0], dilation[0])
    ow = _out_size(width, kw, padding[1], dilation[1])
    rows = w.permute(
        2, 3, 1, 0
    ).contiguous()  # (KH, KW, C, O): one row of O weights per tap and channel
    z = torch.empty((n, oh, ow, o), dtype=torch.float32)
    if n and oh > 0 and ow > 0:
        geometry = [padding[0], padding[1], dilation[0], dilation[1]]
        cuba_ext.get().spike_conv_forward(h.permute(0, 2, 3, 1), rows, z, geometry)
    return z.permute(0, 3, 1, 2)


def weight_grad(h: torch.Tensor, grad: torch.Tensor, kernel, padding, dilation) -> torch.Tensor:
    """dL/dw (O, C, KH, KW) from the input h and the output gradient, both (N, ., ., .) channels-last."""
    kh, kw = kernel
    dw = torch.empty((kh, kw, h.shape[1], grad.shape[1]), dtype=torch.float32)
    g = grad.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
    geometry = [padding[0], padding[1], dilation[0], dilation[1]]
    cuba_ext.get().spike_conv_wgrad(h.permute(0, 2, 3, 1), g, dw, geometry)
    return dw.permute(3, 2, 0, 1)


class _SpikeConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w, geometry, gather: bool, sparse_wgrad: bool):
        padding, dilation = geometry
        ctx.save_for_backward(h, w)
        ctx.geometry = geometry
        ctx.sparse_wgrad = sparse_wgrad
        if gather:
            return forward(h, w.detach(), padding, dilation)
        return onednn(h, w.detach(), padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        h, w = ctx.saved_tensors
        padding, dilation = ctx.geometry
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        sparse_w = need_w and ctx.sparse_wgrad
        g = grad.contiguous(memory_format=torch.channels_last)
        grad_h, grad_w, _ = torch.ops.aten.convolution_backward(
            g, h, w.detach(), None, [1, 1], list(padding), list(dilation), False, [0, 0], 1,
            [need_h, need_w and not sparse_w, False],
        )  # fmt: skip
        if sparse_w:
            grad_w = weight_grad(h, g, tuple(w.shape[2:]), padding, dilation)
        return grad_h, grad_w, None, None, None
