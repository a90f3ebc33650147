"""Per-source outputs of ``simulate`` over all chunks: logits, spike counts, synaptic ops (counted by
``hardware.counts.synops_of``, the one definition the report's numbers come from), recorded state."""

from __future__ import annotations

import numpy as np

from ..engine.trace import Trace
from ..ir import DeployedNet
from .results import SourceCounts


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
        self.synapse_layers = [layer.kind != "input" for layer in net.compute_layers]
        self.record = record
        self.logits, self.counts, self.synops, self.rasters, self.state = [], [], [], [], {}
        self.seconds = 0.0

    def add(self, x: np.ndarray, trace: Trace, seconds: float) -> None:
        import torch

        from ..hardware.counts import synops_of

        self.seconds += seconds
        self.logits.append(trace.logits)
        spikes = trace.spikes[: len(self.synapse_layers) - 1]
        k, t = len(x), x.shape[-1]
        counts, rows, fo = [], [], iter(self.fanouts)
        for i, (raster, has_synapse) in enumerate(zip([x] + spikes, self.synapse_layers)):
            r = torch.from_numpy(np.ascontiguousarray(raster)).reshape(k, -1, t)
            active = (r != 0).to(torch.float32)  # a message per nonzero value (graded spikes too)
            if i:  # float32 counts are exact below 2^24 neurons
                counts.append(active.sum(dim=1).round().to(torch.int64))
            rows.append(
                synops_of(active, next(fo))
                if has_synapse
                else torch.zeros((k, t), dtype=torch.int64)
            )
            if self.recurrent[i] is not None:  # the layer's own spikes, sent back into it
                own = torch.from_numpy(np.ascontiguousarray(spikes[i])).reshape(k, -1, t) != 0
                rows[-1] = rows[-1] + synops_of(own.to(torch.float32), self.recurrent[i])
        self.counts.append(
            torch.stack(counts, dim=1).numpy() if counts else np.zeros((k, 0, t), np.int64)
        )
        self.synops.append(torch.stack(rows, dim=1).numpy())
        if "spikes" in self.record:
            self.rasters.append(spikes)
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
