"""Parity between two runs of the same samples (a chip model and PyTorch, or Lava and the emulator),
spike for spike, accumulated chunk by chunk so that any number of samples fits in memory.

Per chunk and layer: one ``!=`` pass in the rasters' memory order (``layout``), its count, and one sum;
where a chunk's rasters are equal, so are the other side's sum and its spike counts, and there is no
divergence to locate. Only a chunk with a mismatch counts both sides' spikes per step and looks for its
first divergence (``spike_counts``, ``first_divergence``: the definitions, on any layout)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .layout import in_memory_order, memory_order
from .results import Comparison, Divergence, LayerParity


def spike_counts(spikes: list) -> np.ndarray:
    """Per sample, layer and timestep: the number of spikes (nonzero values: a graded spike is one
    message). ``spikes[i]``: (K, ..., T)."""
    return np.stack(
        [(s.reshape(s.shape[0], -1, s.shape[-1]) != 0).sum(axis=1) for s in spikes], axis=1
    )


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


def mismatch(x: np.ndarray, y: np.ndarray) -> int:
    """How many values of ``x`` and ``y`` (the same shape) differ, in one pass in ``x``'s memory order."""
    if x.shape != y.shape:
        raise ValueError(f"parity of rasters of shapes {x.shape} and {y.shape}")
    order = memory_order(x)
    a, b = x.transpose(order), y.transpose(order)
    if a.dtype == b.dtype and a.flags.c_contiguous and b.flags.c_contiguous and a.nbytes % 8 == 0:
        # both in one memory order (the sources hand out per-sample time-major rasters): equal rasters,
        # the common case, are found 8 bytes at a time
        if np.array_equal(a.reshape(-1).view(np.uint64), b.reshape(-1).view(np.uint64)):
            return 0
    return int(np.count_nonzero(np.not_equal(a, b)))


def spike_total(x: np.ndarray) -> int:
    """The sum of a raster's values, read in its memory order: a uint8 raster of 0/1 spikes by the count
    of its nonzero bytes (a vectorized count, several times faster than numpy's widening sum)."""
    m = in_memory_order(x)
    if m.dtype == np.uint8 and m.size and int(m.max()) <= 1:
        return int(np.count_nonzero(m))
    return int(m.sum())


class Parity:
    """Accumulates the agreement of run ``a`` with run ``b`` over chunks of samples."""

    def __init__(self, names: list, a: str, b: str):
        self.names, self.a, self.b = names, a, b
        self.samples = self.agree = 0
        self.max_diff = 0.0
        self.mismatched = [0] * len(names)
        self.sums = [[0, 0] for _ in names]
        self.counts_equal = True
        self.first: Optional[dict] = None

    def update(
        self,
        offset: int,
        a_spikes: list,
        b_spikes: list,
        a_logits: np.ndarray,
        b_logits: np.ndarray,
    ) -> bool:
        """One chunk whose first sample is sample ``offset`` of the run; True where every raster of
        the two sides is equal."""
        self.samples += len(a_logits)
        self.agree += int((a_logits.argmax(1) == b_logits.argmax(1)).sum())
        if a_logits.size:
            self.max_diff = max(self.max_diff, float(np.abs(a_logits - b_logits).max()))
        differs = False
        for i, (x, y) in enumerate(zip(a_spikes, b_spikes)):
            mismatched, a_sum = mismatch(x, y), spike_total(x)
            self.mismatched[i] += mismatched
            self.sums[i][0] += a_sum
            self.sums[i][1] += a_sum if mismatched == 0 else spike_total(y)  # equal: same sum
            differs |= mismatched > 0
        if not differs:  # equal rasters: equal spike counts, nothing diverges
            return True
        self.counts_equal &= bool(np.array_equal(spike_counts(a_spikes), spike_counts(b_spikes)))
        first = first_divergence(a_spikes, b_spikes)
        if first is not None:
            first["sample"] += offset
            key = lambda d: (d["timestep"], d["layer_index"], d["sample"])  # noqa: E731
            if self.first is None or key(first) < key(self.first):
                self.first = first
        return False

    def result(self) -> Comparison:
        first = None
        if self.first is not None:
            i = self.first["layer_index"]
            first = Divergence(self.names[i], i, self.first["timestep"], self.first["sample"])
        return Comparison(
            self.a,
            self.b,
            samples=self.samples,
            prediction_agreement_pct=self.agree / max(self.samples, 1) * 100.0,
            logits_max_abs_diff=self.max_diff,
            spike_counts_equal=self.counts_equal,
            per_layer=[
                LayerParity(name, m, s[0], s[1])
                for name, m, s in zip(self.names, self.mismatched, self.sums)
            ],
            first_divergence=first,
        )
