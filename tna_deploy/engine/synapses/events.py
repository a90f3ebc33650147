"""A dense synapse's sums ``flat @ w.T`` over the nonzero inputs only (``csrc/dense_events.cpp``), for the
dense kinds the fused spike path does not take (sigma-delta, complex, recurrent, delayed): the sum of a
sparse input costs its events, as on the chip, not the whole weight matrix. Past ``DENSE_ABOVE`` of the
inputs nonzero (judged on a few rows spread over the input: counting them all costs as much as a small
product), the blocked matrix product (BLAS) is the faster of the two and is taken instead. The
callers choose the dtype so that every partial sum is an exact integer (``numeric.sum_dtype``), so the
result is the matrix product's, whatever the order or the path (tested); without the C++ build,
``torch.matmul``."""

from __future__ import annotations

import torch

from .. import kinds_ext

# The share of nonzero inputs above which BLAS beats the event loop: measured on the 2-core x86 machines
# (float32 and float64, 256-4096 inputs, 256-1024 outputs) between 0.15 and 0.23.
DENSE_ABOVE = 0.15


def matmul(flat: torch.Tensor, w: torch.Tensor, cache: dict) -> torch.Tensor:
    """``flat`` (..., n_in) times ``w`` (n_out, n_in) transposed, in ``flat``'s dtype. ``cache``: where
    the transposed weights of each dtype are kept (the layer's ``Prepared.extra``)."""
    if flat.device.type != "cpu" or flat.dtype not in (torch.float32, torch.float64):
        return torch.matmul(flat, w.to(flat.dtype).t())
    key = ("w_t", flat.dtype)
    if key not in cache:
        cache[key] = w.to(flat.dtype).t().contiguous()
    w_t = cache[key]
    x = flat.reshape(-1, flat.shape[-1]).contiguous()
    lib = kinds_ext.get()
    if lib is None or _dense(x):
        return torch.matmul(x, w_t).reshape(*flat.shape[:-1], w_t.shape[1])
    out = torch.empty((x.shape[0], w_t.shape[1]), dtype=flat.dtype)
    ptr = kinds_ext.ptr
    lib.dense_events(
        ptr(x), x.shape[0], x.shape[1], ptr(w_t), w_t.shape[1], ptr(out),
        int(flat.dtype == torch.float64), torch.get_num_threads(),
    )  # fmt: skip
    return out.reshape(*flat.shape[:-1], w_t.shape[1])


def _dense(x: torch.Tensor, rows: int = 16) -> bool:
    """Whether more than ``DENSE_ABOVE`` of ``x``'s values are nonzero, judged on ``rows`` rows evenly
    spread over it (only the speed depends on the answer, never the sums)."""
    sample = x[:: max(1, x.shape[0] // rows)]
    return int(torch.count_nonzero(sample)) > DENSE_ABOVE * sample.numel()
