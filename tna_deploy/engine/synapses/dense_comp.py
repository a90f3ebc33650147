"""``dense_comp``: netx's ``ComplexDense``, two Lava ``PyDenseModelBitAcc`` synapses on the same input
(the real and the imaginary weights, each with its own ``optimize_weight_bits``); the layer's a_in
is the pair (real, imag) its resonator neuron takes."""

from __future__ import annotations

import numpy as np
import torch

from ...ir import dense_weight_bits
from ..numeric import sum_dtype
from . import events
from .base import Prepared, Synapse


def dense_sum(
    flat: torch.Tensor, w: torch.Tensor, weight_exp: int, dtype, cache: dict
) -> torch.Tensor:
    """Lava's dense accumulation of ``flat`` (T, K, n_in) then ``>> -weight_exp`` (flooring); ``cache``
    keeps ``w``'s transposed copies (``events.matmul``)."""
    term = events.matmul(flat.to(dtype), w, cache).to(torch.float64)
    return torch.floor(term * 2.0**weight_exp) if weight_exp else term


class DenseComp(Synapse):
    @staticmethod
    def prepare(p: Prepared) -> None:
        parts = []
        for w in (p.layer.weight, p.layer.weight_imag):
            dw = dense_weight_bits(w)
            parts.append((torch.from_numpy(dw.weight.astype(np.float64)), dw.weight_exp, {}))
        p.extra["parts"] = parts
        p.row_sum = max(float(w.abs().sum(1).max()) for w, _, _ in parts)

    @staticmethod
    def run(emulator, i, p, prev, prev_max) -> tuple:
        t, k = prev.shape[:2]
        bound = prev_max * p.row_sum
        dtype = sum_dtype(bound)
        flat = prev.reshape(t, k, -1).to(dtype)
        a = tuple(dense_sum(flat, w, e, dtype, cache) for w, e, cache in p.extra["parts"])
        return a, bound * 2.0 ** max(e for _, e, _ in p.extra["parts"])
