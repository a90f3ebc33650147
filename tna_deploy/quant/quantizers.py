"""Weight quantizers for SLAYER synapses.

SLAYER calls ``synapse.pre_hook_fx(weight)`` on every forward pass and
``pre_hook_fx(weight, descale=True)`` when a block is exported to netx HDF5. A quantizer here
returns float weights on Loihi's grid in the forward pass and, with ``descale=True``, exactly the
integers (x ``W_SCALE``) that forward pass used, so export writes what the model computed with.

Modes
  fp       full precision: the latent weight itself (the twin, and FP-SNN layers)
  int8     Loihi 8-bit, identical to SLAYER's ``Neuron.quantize_8bit``: a 1/32 grid in [-4, 3.97]
  ternary  paper Eq. 6: {-s, 0, +s}; |w| <= delta * max|w| -> 0; s = mean |w| of the kept weights,
           rounded to the 1/64 grid (so the chip stores {-k, 0, +k}, k = 64 s)
  binary   {-s, +s}, s = mean |w| rounded to the 1/64 grid
Every mode is a straight-through estimator: the backward pass sends the gradient to the latent
full-precision weight unchanged (the ternarization is done on ``.detach()``-ed values).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .modes import MODES

W_SCALE = 64  # lava-dl CUBA weight scale: float weight w is the integer 64 w on the chip


def _ste(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward identity to ``w``."""
    return w + (q - w).detach()


def _grid_scale(mean_abs: torch.Tensor) -> torch.Tensor:
    """Round a level to the 1/64 grid, keeping it in 1..254 (an 8-bit weight magnitude)."""
    return torch.clamp(torch.round(mean_abs * W_SCALE), 1, 254) / W_SCALE


def int8(w: torch.Tensor) -> torch.Tensor:
    step = 2 / W_SCALE
    q = torch.clamp(torch.round(w.detach() / step) * step, -256 / W_SCALE, 254 / W_SCALE)
    return _ste(w, q)


def ternary(w: torch.Tensor, delta: float) -> torch.Tensor:
    wd = w.detach()
    mag = wd.abs()
    keep = (mag > delta * mag.max()).to(wd.dtype)
    kept = keep.sum()
    # the mean |w| of the kept weights (a masked sum: no boolean indexing, which costs a sync and a copy)
    scale = (
        _grid_scale(mag.mul(keep).sum() / kept)
        if kept > 0
        else torch.zeros((), dtype=wd.dtype, device=wd.device)
    )
    q = torch.sign(wd) * keep * scale
    return _ste(w, q)


def binary(w: torch.Tensor) -> torch.Tensor:
    wd = w.detach()
    scale = _grid_scale(wd.abs().mean())
    sign = torch.where(wd >= 0, torch.ones_like(wd), -torch.ones_like(wd))
    return _ste(w, sign * scale)


def _full(w: torch.Tensor, delta: float) -> torch.Tensor:
    return w


# the quantizer of each weight mode (``quant/modes.py``), called as ``fn(w, delta)``
QUANTIZERS = {
    "fp": _full,
    "int8": lambda w, delta: int8(w),
    "ternary": ternary,
    "binary": lambda w, delta: binary(w),
}


class WeightQuantizer:
    """A ``pre_hook_fx`` for one synapse. ``mode`` can change during training (delayed compression)."""

    def __init__(self, mode: str = "fp", delta: float = 0.1):
        if mode not in MODES:
            raise ConfigError(f"unknown weight mode {mode!r}: choose one of {', '.join(MODES)}")
        if mode not in QUANTIZERS:
            raise ConfigError(
                f"weight mode {mode!r} has no quantizer in tna_deploy/quant/quantizers.py"
            )
        self.mode = mode
        self.delta = delta

    def __call__(self, w: torch.Tensor, descale: bool = False) -> torch.Tensor:
        q = QUANTIZERS[self.mode](w, self.delta)
        return q * W_SCALE if descale else q

    def __repr__(self) -> str:
        return f"WeightQuantizer(mode={self.mode!r}, delta={self.delta})"


def weight_levels(w_int: torch.Tensor) -> dict[float, float]:
    """Share of each distinct value in a weight tensor (value -> fraction), for reports."""
    values, counts = torch.unique(w_int.detach().flatten(), return_counts=True)
    total = float(counts.sum())
    return {float(v): float(c) / total for v, c in zip(values, counts)}
