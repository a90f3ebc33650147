"""``dense``: Lava's ``PyDenseModelBitAcc`` after netx's weight-bit optimization (``dense_weight_bits``), with
per-synapse delays carried across the back-to-back stream of samples. Its int32 ``weights.dot(s_in)``
wraps modulo 2^32 before the ``>> -weight_exp`` (reachable with graded inputs)."""

from __future__ import annotations

import numpy as np
import torch

from ...ir import dense_weight_bits
from ..numeric import F64_EXACT, stream, sum_dtype, wrap_int32
from . import events
from .base import Prepared, Synapse


class Dense(Synapse):
    @staticmethod
    def prepare(p: Prepared) -> None:
        layer = p.layer
        dw = dense_weight_bits(layer.weight)
        w = dw.weight.astype(np.float64)
        p.weight_exp = dw.weight_exp
        p.row_sum = float(np.abs(w).sum(1).max())
        delay = layer.delay if layer.delay is not None else np.zeros(w.shape, dtype=np.int64)
        p.delays = [
            (int(d), torch.from_numpy(np.where(delay == d, w, 0.0))) for d in np.unique(delay)
        ]

    @staticmethod
    def run(emulator, i, p, prev, prev_max) -> tuple:
        t, k = prev.shape[:2]
        bound = prev_max * p.row_sum
        wide = bound >= F64_EXACT  # sums beyond float64's integers: int64, exact modulo 2^64
        dtype = torch.int64 if wide else sum_dtype(bound)
        flat = prev.reshape(t, k, -1).to(dtype)
        a = None
        for d, w in p.delays:
            term = events.matmul(flat, w, p.extra.setdefault(("events", d), {}))
            if wide:
                term = torch.remainder(term, 1 << 32).to(torch.float64)
            term = term.to(torch.float64)
            if bound >= 2.0**31:  # Lava's int32 weights.dot(s_in) wraps
                term = wrap_int32(term)
            if p.weight_exp:
                term = torch.floor(term * 2.0**p.weight_exp)
            if d:
                term = _delayed(emulator, i, p, d, term)
            a = term if a is None else a + term
        if emulator.max_delay:
            emulator.tails[i] = stream(flat.to(torch.float64))[-emulator.max_delay :]
        bound = min(bound, 2.0**31) * 2.0**p.weight_exp * max(1, len(p.delays))
        if bound >= 2.0**31:  # Lava's int32 a_buff wraps the sum of the delay terms
            a, bound = wrap_int32(a), 2.0**31
        return a, bound


def _delayed(emulator, i: int, p: Prepared, d: int, term: torch.Tensor) -> torch.Tensor:
    """``term`` (T, K, n) moved d steps later along the back-to-back stream of samples."""
    t, k, n = term.shape
    s = stream(term)
    tail = emulator.tails.get(i)
    if tail is not None:
        w = dict(p.delays)[d]
        head = torch.floor(torch.matmul(tail.to(torch.float64), w.t()) * 2.0**p.weight_exp)[-d:]
    else:
        head = torch.zeros((d, n), dtype=term.dtype)
    head = torch.cat([torch.zeros((max(0, d - len(head)), n), dtype=term.dtype), head])
    moved = torch.cat([head, s[:-d]]) if d < len(s) else torch.cat([head, s])[: len(s)]
    return moved.reshape(k, t, n).transpose(0, 1)
