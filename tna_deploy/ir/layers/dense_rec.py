"""``dense_rec``: a recurrent dense layer, netx's ``RecurrentDense`` block: a Lava ``Dense`` synapse
from the input (``weight``) and one from the layer's own spikes (``weight_rec``, (out, out)), both
into the neuron's ``a_in``, each handing its sum on one step later. netx optimizes the two jointly
(``np.hstack`` then ``optimize_weight_bits``: one num_weight_bits and weight_exp), and each Lava
synapse then re-derives its own sign mode, clips and truncates (``dense_rec_weight_bits``).

Refused: delays (netx's ``RecurrentDense`` then drops the weight exponent and gives the recurrent
synapse the input synapse's delays), and a neuron other than CUBA / LOIHI (the emulator's recurrent
step is the CUBA one)."""

from __future__ import annotations

import numpy as np

from ..h5 import bias, integers
from .base import LayerKind, NetxContext
from .dense import (
    DenseWeights,
    check_dense_weight,
    dense_weight,
    optimize_weight_bits,
    synapse_weights,
)

NEEDS = "a dense_rec layer needs shape, weight and weight_rec"
NO_DELAYS = (
    "a dense_rec layer with delays: netx's RecurrentDense then drops the weight exponent and "
    "reuses the input delays for the recurrent synapse"
)


def dense_rec_weight_bits(weight: np.ndarray, weight_rec: np.ndarray) -> tuple:
    """(input, recurrent) ``DenseWeights``: netx's joint ``optimize_weight_bits`` of
    ``np.hstack((weight, weight_rec))``, then Lava's clip and truncation of each part."""
    scaled, bits, exp, pre_clip = optimize_weight_bits(np.hstack((weight, weight_rec)))
    n = np.asarray(weight).shape[1]
    parts: list[DenseWeights] = [
        synapse_weights(part, bits, exp, pre_clip) for part in (scaled[:, :n], scaled[:, n:])
    ]
    return parts[0], parts[1]


class DenseRec(LayerKind):
    name = "dense_rec"
    compute = True
    extra_weights = ("weight_rec",)

    @staticmethod
    def check(layer) -> None:
        check_dense_weight(layer, layer.weight)
        n = layer.weight.shape[0]
        if layer.weight_rec.shape != (n, n):
            raise ValueError(f"weight_rec {layer.weight_rec.shape} is not ({n}, {n})")
        if not (layer.weight.any() or layer.weight_rec.any()):
            raise ValueError("every weight is zero (netx cannot size such a synapse)")
        dense_rec_weight_bits(layer.weight, layer.weight_rec)
        if layer.delay is not None:
            raise ValueError(NO_DELAYS)
        if layer.neuron.family != "cuba":
            raise ValueError(f"a dense_rec layer runs CUBA neurons, not {layer.neuron.kind}")

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        in_shape, n_out, w = dense_weight(ctx, "weight")
        g, read = ctx.group, ctx.read
        rec = integers(read(g, "weight_rec", NEEDS), "weight_rec")
        if rec.ndim == 1 and n_out and rec.size % n_out == 0:
            rec = rec.reshape(n_out, -1)
        if "delay" in g:
            raise ValueError(NO_DELAYS)
        return ctx.layer(
            "dense_rec",
            ctx.index,
            in_shape,
            (n_out,),
            neuron,
            w,
            bias(g, (n_out,), read),
            weight_rec=rec,
        )

    @staticmethod
    def write_netx(g, layer) -> None:
        g.create_dataset("weight", data=layer.weight)
        g.create_dataset("weight_rec", data=layer.weight_rec)
        g.create_dataset("inFeatures", data=layer.weight.shape[1])
        g.create_dataset("outFeatures", data=layer.weight.shape[0])

    @staticmethod
    def weight_bits(layer) -> int:
        return dense_rec_weight_bits(layer.weight, layer.weight_rec)[0].num_weight_bits
