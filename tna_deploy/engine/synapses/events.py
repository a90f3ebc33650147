"""A dense synapse's sums ``flat @ w.T`` over the nonzero inputs only (``csrc/dense_events.cpp``), for the
dense kinds the fused spike path does not take (sigma-delta, complex, recurrent, delayed): the sum of a
sparse input costs its events, as on the chip, not the whole weight matrix. The callers choose the dtype
so that every partial sum is an exact integer (``numeric.sum_dtype``), so the result is the matrix
product's, whatever the order (tested); elsewhere, or without the C++ build, ``torch.matmul``."""

from __future__ import annotations

import torch

from .. import kinds_ext


def matmul(flat: torch.Tensor, w: torch.Tensor, cache: dict) -> torch.Tensor:
    """``flat`` (..., n_in) times ``w`` (n_out, n_in) transposed, in ``flat``'s dtype. ``cache``: where
    the transposed weights of each dtype are kept (the layer's ``Prepared.extra``)."""
    key = ("w_t", flat.dtype)
    lib = kinds_ext.get()
    if lib is None or flat.device.type != "cpu" or flat.dtype not in (torch.float32, torch.float64):
        return torch.matmul(flat, w.to(flat.dtype).t())
    if key not in cache:
        cache[key] = w.to(flat.dtype).t().contiguous()
    w_t = cache[key]
    x = flat.reshape(-1, flat.shape[-1]).contiguous()
    out = torch.empty((x.shape[0], w_t.shape[1]), dtype=flat.dtype)
    ptr = kinds_ext.ptr
    lib.dense_events(
        ptr(x), x.shape[0], x.shape[1], ptr(w_t), w_t.shape[1], ptr(out),
        int(flat.dtype == torch.float64), torch.get_num_threads(),
    )  # fmt: skip
    return out.reshape(*flat.shape[:-1], w_t.shape[1])
