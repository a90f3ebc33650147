"""Pool, unpool and convT fused with their CUBA neurons (``csrc/scatter_cuba.cpp``): the layer as a list,
per input, of the outputs it reaches and the weights it reaches them with (the layer's taps), so that
each step only the nonzero inputs add anything; the sums wrapped to 24 bits as ``spatial.spatial_run``
wraps them, then Lava's CUBA neuron, the spikes written straight into the emulator's batch-major
raster. The same integers as the torch path (tests/engine/test_fused_kinds.py).

It applies in windows (no ``Stream``), with CUBA neurons, when only spikes are recorded, the sums stay
exact in float64 and the taps fit in :data:`MAX_TAPS`; otherwise :func:`run` returns None and the
layer runs its torch path."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ...ir.layers.pool import padded_hw
from .. import kinds_ext
from ..cuba import DECAY_UNITY, STATE_SHIFT
from ..numeric import F64_EXACT

MAX_TAPS = 1 << 24  # (input, output) pairs: 16 bytes each
_XTYPES = {torch.uint8: 0, torch.int32: 1, torch.int64: 2, torch.float32: 3, torch.float64: 4}


def _csr(src: np.ndarray, dst: np.ndarray, w: np.ndarray, n_in: int) -> tuple:
    """(starts, targets, weights) of the nonzero taps, grouped by input."""
    keep = w != 0
    src, dst, w = src[keep], dst[keep], w[keep]
    order = np.argsort(src, kind="stable")
    starts = np.zeros(n_in + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n_in), out=starts[1:])
    return (
        torch.from_numpy(starts),
        torch.from_numpy(dst[order].astype(np.int64)),
        torch.from_numpy(w[order].astype(np.float64)),
    )


def _count(layer, per_input: int) -> bool:
    return int(np.prod(layer.in_shape)) * per_input <= MAX_TAPS


def pool_taps(layer) -> Optional[tuple]:
    """A pool's taps: every channel alone through the one kernel, after SLAYER's bottom / right rows."""
    c, h, w = layer.in_shape
    kh, kw = layer.weight.shape[2:]
    if not _count(layer, kh * kw):
        return None
    (sy, sx), (py, px), (dy, dx) = layer.stride, layer.padding, layer.dilation
    hp, wp = padded_hw(h, w, (kh, kw))
    oh, ow = (
        (hp + 2 * py - dy * (kh - 1) - 1) // sy + 1,
        (wp + 2 * px - dx * (kw - 1) - 1) // sx + 1,
    )
    if (c, oh, ow) != tuple(layer.out_shape):
        return None
    ch, oy, ox, ky, kx = np.meshgrid(
        np.arange(c), np.arange(oh), np.arange(ow), np.arange(kh), np.arange(kw), indexing="ij"
    )
    iy, ix = oy * sy - py + ky * dy, ox * sx - px + kx * dx
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    src = ((ch * h + iy) * w + ix)[ok]
    dst = ((ch * oh + oy) * ow + ox)[ok]
    return _csr(src, dst, layer.weight[0, 0][ky, kx][ok], c * h * w)


def transposed_taps(layer, weight: np.ndarray, groups: int) -> Optional[tuple]:
    """A transposed conv's taps (unpool: one kernel per channel; convT): weight (in, out / groups, kH,
    kW), no output padding."""
    cin, h, w = layer.in_shape
    _, og, kh, kw = weight.shape
    if not _count(layer, og * kh * kw):
        return None
    (sy, sx), (py, px), (dy, dx) = layer.stride, layer.padding, layer.dilation
    oh, ow = (h - 1) * sy - 2 * py + dy * (kh - 1) + 1, (w - 1) * sx - 2 * px + dx * (kw - 1) + 1
    if (og * groups, oh, ow) != tuple(layer.out_shape):
        return None
    ci, y, x, o, ky, kx = np.meshgrid(
        np.arange(cin), np.arange(h), np.arange(w), np.arange(og), np.arange(kh), np.arange(kw),
        indexing="ij",
    )  # fmt: skip
    co = (ci // (cin // groups)) * og + o
    oy, ox = y * sy - py + ky * dy, x * sx - px + kx * dx
    ok = (oy >= 0) & (oy < oh) & (ox >= 0) & (ox < ow)
    src = ((ci * h + y) * w + x)[ok]
    dst = ((co * oh + oy) * ow + ox)[ok]
    return _csr(src, dst, weight[ci, o, ky, kx][ok], cin * h * w)


def run(emulator, p, src: torch.Tensor, binary: bool, src_max: float) -> Optional[tuple]:
    """The layer over ``src`` (K, *in_shape, T) batch-major (binary: its nonzero values count 1), bounded
    by ``src_max``: the spike raster (K, *out_shape, T) uint8 and the voltage after the last step (K, n)
    float64, or None where the fused kernel does not apply."""
    layer, taps = p.layer, p.extra.get("taps")
    lib = kinds_ext.get()
    neuron = layer.neuron
    if (
        lib is None
        or taps is None
        or emulator.stream is not None
        or getattr(neuron, "family", None) != "cuba"
        or src_max * p.row_sum >= F64_EXACT
        or src.device.type != "cpu"
    ):
        return None
    k, t = src.shape[0], src.shape[-1]
    n_in, n_out = int(np.prod(layer.in_shape)), int(np.prod(layer.out_shape))
    if src.dtype == torch.bool:
        src = src.view(torch.uint8)
    elif src.dtype not in _XTYPES:
        src = src.to(torch.int64 if not src.is_floating_point() else torch.float64)
    x = src.reshape(k, n_in, t)
    bias = p.bias
    if isinstance(bias, torch.Tensor):
        bias = bias.to(torch.float64).reshape(-1).contiguous()
        if bias.numel() != n_out:
            return None
    else:
        bias = None
    starts, targets, weights = taps
    spikes = torch.empty((k, n_out, t), dtype=torch.uint8)
    v_last = torch.empty((k, n_out), dtype=torch.float64)
    ptr = kinds_ext.ptr
    lib.scatter_cuba_forward(
        ptr(x), _XTYPES[x.dtype], int(binary), k, t, n_in, *x.stride(),
        ptr(starts), ptr(targets), ptr(weights), n_out, ptr(bias),
        (DECAY_UNITY - int(neuron.current_decay)) / DECAY_UNITY,
        (DECAY_UNITY - int(neuron.voltage_decay)) / DECAY_UNITY,
        1, float(int(neuron.threshold) << STATE_SHIFT),
        ptr(spikes), ptr(v_last), torch.get_num_threads(),
    )  # fmt: skip
    return spikes.reshape((k, *layer.out_shape, t)), v_last
