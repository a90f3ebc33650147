"""Parity between the chip model (Lava) and the PyTorch base network, spike for spike."""
from __future__ import annotations

from typing import Optional

import numpy as np


def spike_counts(spikes: list) -> np.ndarray:
    """Per sample, layer and timestep: the number of spikes. ``spikes[i]``: (K, ..., T)."""
    return np.stack([s.reshape(s.shape[0], -1, s.shape[-1]).sum(axis=1) for s in spikes], axis=1)


def first_divergence(a: list, b: list) -> Optional[dict]:
    """The earliest timestep (then the lowest layer, then the first sample) where spikes differ."""
    best = None
    for i, (x, y) in enumerate(zip(a, b)):
        diff = np.argwhere(x != y)
        if not len(diff):
            continue
        t = int(diff[:, -1].min())
        sample = int(diff[diff[:, -1] == t][:, 0].min())
        if best is None or (t, i) < (best["timestep"], best["layer_index"]):
            best = dict(layer_index=i, timestep=t, sample=sample)
    return best


def parity(names: list, lava_spikes: list, torch_spikes: list, lava_logits: np.ndarray,
           torch_logits: np.ndarray) -> dict:
    """Prediction agreement, logit equality and per-layer spike equality, with the first divergence."""
    agree = float(np.mean(lava_logits.argmax(1) == torch_logits.argmax(1)) * 100.0)
    max_diff = float(np.abs(lava_logits - torch_logits).max()) if lava_logits.size else 0.0
    per_layer = []
    for name, a, b in zip(names, lava_spikes, torch_spikes):
        per_layer.append(dict(layer=name, equal=bool(np.array_equal(a, b)), mismatched=int((a != b).sum()),
                              lava_spikes=int(a.sum()), torch_spikes=int(b.sum())))
    first = first_divergence(lava_spikes, torch_spikes)
    if first is not None:
        first["layer"] = names[first["layer_index"]]
    counts_equal = bool(np.array_equal(spike_counts(lava_spikes), spike_counts(torch_spikes)))
    return dict(prediction_agreement_pct=agree, logits_equal=max_diff == 0.0, logits_max_abs_diff=max_diff,
                spikes_equal=all(r["equal"] for r in per_layer), spike_counts_equal=counts_equal,
                per_layer=per_layer, first_divergence=first)
