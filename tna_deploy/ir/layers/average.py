"""``average``: lava-dl SLAYER's ``block.cuba.Average`` read-out (netx raises NotImplementedError on it).

SLAYER's block has no neuron, no synapse and no one-step ``delay_shift``: at every step it outputs the
mean of each of ``num_outputs`` equal, consecutive groups of the previous layer's spikes flattened in
torch order (``x.reshape(N, num_outputs, -1, T).mean(2)``), a fraction that no synapse on Loihi takes.
tna-deploy therefore runs it only as what lava-dl uses it for, the network's read-out: it must be the
last layer, and it is computed on the host from the spikes of the compute layer before it
(``tna_deploy.engine.readout``) as integers, the count of spikes in each group at each step, in that
layer's own window (no latency); SLAYER's value is that count divided by the group size.

The file holds ``type`` and ``shape`` (num_outputs, 1, 1) only. SLAYER's own ``export_hdf5`` of the
block cannot write it (lava-dl 0.6.0 reads ``self.neuron.shape``, and the block has no neuron, so it
raises AttributeError); a file holding one was written by hand or by a patched lava-dl.
"""

from __future__ import annotations

import math

from ..h5 import ints
from .base import LayerKind, NetxContext


class Average(LayerKind):
    name = "average"
    readout = True

    @staticmethod
    def check(layer) -> None:
        n = layer.out_shape[0]
        if math.prod(layer.out_shape) != n:
            raise ValueError(f"shape {layer.out_shape}, expected (num_outputs, 1, 1)")
        if math.prod(layer.in_shape) % n:
            raise ValueError(
                f"{math.prod(layer.in_shape)} inputs of {layer.in_shape} do not split into {n} "
                f"equal groups"
            )
        for name in ("neuron", "weight", "bias", "delay"):
            if getattr(layer, name) is not None:
                raise ValueError(
                    f"an average layer has no {name} (SLAYER's Average block has none)"
                )

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        g = ctx.group
        for name in ("neuron", "weight", "bias"):
            if name in g:
                raise ValueError(
                    f"its {name!r} field: an average layer has none (SLAYER's Average block has none)"
                )
        if ctx.shape is None:
            raise ValueError("the first layer is an average: it has nothing to read out")
        out = ints(ctx.read(g, "shape", "an average layer needs its shape"), "shape")
        return ctx.layer("average", ctx.index, ctx.shape, out)
