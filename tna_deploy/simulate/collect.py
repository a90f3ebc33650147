"""Per-source outputs of ``simulate`` over all chunks: logits, spike counts, synaptic ops (counted by
``hardware.counts.synops_of``, the one definition the report's numbers come from), recorded state.

A uint8 raster (every source's spikes) is counted in one C++ pass over its memory (``raster_counts`` of the
fused build): int32 sums that equal ``synops_of``'s exactly (tested), where the layer's fan-outs sum below
2^31; anything else, or no C++ build, takes ``synops_of`` itself."""

from __future__ import annotations

import numpy as np

from ..engine.trace import Trace
from ..ir import DeployedNet
from .layout import rows
from .results import SourceCounts

INT32_SUMS = float(1 << 31)  # fan-outs summing below this keep every fused row sum an exact int32


def _active(r):
    """1.0 where ``r`` is nonzero, else 0.0, float32: a plain cast where ``r`` holds only 0 and 1."""
    import torch

    if r.dtype in (torch.uint8, torch.bool) and (r.numel() == 0 or int(r.max()) <= 1):
        return r.to(torch.float32)
    return (r != 0).to(torch.float32)


def _fused_counts(r, time_last: bool, index, fanout):
    """(counts, ops), each (K, T) int64, of the uint8 rows ``r`` in one C++ pass, with ``fanout`` (J,)
    int32 in file order (None: its sum reaches 2^31); None where this path does not apply."""
    import torch

    from ..engine import cuba_ext

    ext = cuba_ext.get()
    if ext is None or fanout is None or r.dtype != np.uint8 or not r.flags.c_contiguous:
        return None
    k, t = r.shape[0], r.shape[2] if time_last else r.shape[1]
    fo = fanout if index is None else np.ascontiguousarray(fanout[index])
    counts = torch.empty((k, t), dtype=torch.int64)
    ops = torch.empty((k, t), dtype=torch.int64)
    ext.raster_counts(torch.from_numpy(r), torch.from_numpy(fo), time_last, counts, ops)
    return counts, ops


def _synops(active, time_last: bool, index, fanout):
    """``synops_of`` on ``rows``' (K, J, T) or (K, T, J) activity, its fan-outs in the same order (the
    same integers: every partial sum is an exact integer, in any order)."""
    import torch

    from ..hardware.counts import synops_of

    if time_last:
        return synops_of(active, fanout)
    fo = fanout if index is None else fanout[torch.from_numpy(index)]
    return synops_of(active.transpose(1, 2), fo)


class Collector:
    def __init__(self, net: DeployedNet, record: tuple):
        import torch

        from ..hardware.counts import fanout, recurrent_fanout

        rec = [recurrent_fanout(layer) for layer in net.compute_layers]
        self.recurrent = [  # a recurrent layer's own spikes feed its synapse too (not the read-out's)
            None if f is None or i == len(rec) - 1 else torch.from_numpy(f.astype(np.float64))
            for i, f in enumerate(rec)
        ]
        self.fanouts = [
            torch.from_numpy(fanout(layer).reshape(-1).astype(np.float64))
            for layer in net.compute_layers
            if layer.kind != "input"
        ]
        self.fanouts_i32 = [  # for the fused count, where every row sum fits an int32
            f.numpy().astype(np.int32) if float(f.sum()) < INT32_SUMS else None
            for f in self.fanouts
        ]
        self.synapse_layers = [layer.kind != "input" for layer in net.compute_layers]
        self.record = record
        self.logits, self.counts, self.synops, self.rasters, self.state = [], [], [], [], {}
        self.seconds = 0.0

    def add(self, x: np.ndarray, trace: Trace, seconds: float) -> None:
        import torch

        self.seconds += seconds
        self.logits.append(trace.logits)
        spikes = trace.spikes[: len(self.synapse_layers) - 1]
        k, t = len(x), x.shape[-1]
        counts, ops = [], []
        fo, fo_i32 = iter(self.fanouts), iter(self.fanouts_i32)
        for i, (raster, has_synapse) in enumerate(zip([x] + spikes, self.synapse_layers)):
            r, time_last, index = rows(raster)  # (K, J, T) or (K, T, J): no copy of a raster
            fused = _fused_counts(r, time_last, index, next(fo_i32)) if has_synapse else None
            if fused is not None:
                next(fo)
                if i:
                    counts.append(fused[0])
                ops.append(fused[1])
            else:
                active = _active(torch.from_numpy(r))  # a message per nonzero value
                if i:  # float32 counts are exact below 2^24 neurons
                    counts.append(active.sum(dim=1 if time_last else 2).round().to(torch.int64))
                ops.append(
                    _synops(active, time_last, index, next(fo))
                    if has_synapse
                    else torch.zeros((k, t), dtype=torch.int64)
                )
            if self.recurrent[i] is not None:  # the layer's own spikes, sent back into it
                own, own_last, own_index = rows(spikes[i])
                own = _active(torch.from_numpy(own))
                ops[-1] = ops[-1] + _synops(own, own_last, own_index, self.recurrent[i])
        self.counts.append(
            torch.stack(counts, dim=1).numpy() if counts else np.zeros((k, 0, t), np.int64)
        )
        self.synops.append(torch.stack(ops, dim=1).numpy())
        if "spikes" in self.record:
            self.rasters.append(spikes)
        for name in ("current", "voltage"):
            if name in self.record:
                self.state.setdefault(name, []).append(getattr(trace, name))

    def add_equal(self, other: "Collector", trace: Trace, seconds: float) -> None:
        """A chunk whose input and spikes equal those ``other`` counted last (its parity found every
        raster equal): the same counts and synaptic ops, which are functions of them alone; this
        source's own logits."""
        self.seconds += seconds
        self.logits.append(trace.logits)
        self.counts.append(other.counts[-1])
        self.synops.append(other.synops[-1])
        if "spikes" in self.record:
            self.rasters.append(trace.spikes[: len(self.synapse_layers) - 1])
        for name in ("current", "voltage"):
            if name in self.record:
                self.state.setdefault(name, []).append(getattr(trace, name))

    def all_logits(self) -> np.ndarray:
        return np.concatenate(self.logits)

    def source_counts(self) -> SourceCounts:
        return SourceCounts(
            self.all_logits(), np.concatenate(self.counts), np.concatenate(self.synops)
        )

    def spike_layers(self) -> list:
        """The recorded spikes, per layer (K, *shape, T)."""
        if not self.rasters:
            return []
        return [np.concatenate([c[i] for c in self.rasters]) for i in range(len(self.rasters[0]))]

    def state_layers(self) -> dict:
        """The recorded current / voltage: {field: per layer (K, *shape, T)}."""
        return {
            field: [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
            for field, chunks in self.state.items()
        }
