"""``dense_comp``: a complex dense layer, netx's ``ComplexDense`` block: two Lava ``Dense`` synapses,
``weight/real`` into the resonator neuron's ``a_real_in`` and ``weight/imag`` into its
``a_imag_in``, each through its own ``optimize_weight_bits`` (``dense_weight_bits``). Its neuron is
a resonator (``neurons/rf.py``), and only a resonator takes a complex synapse.

netx builds this block for a ``dense`` group holding ``weight/real`` and ``weight/imag`` (how SLAYER
exports a complex dense block); it ignores such a group's bias and delays, and so does this reader
(with a warning). A group typed ``dense_comp`` is read the same way, but Lava cannot load it:
netx's ``Network._create`` calls ``create_complex_dense``, which does not exist (lava-dl 0.6.0).
The writer therefore writes the layer as SLAYER does, typed ``dense``, which netx loads."""

from __future__ import annotations

import logging

from .base import LayerKind, NetxContext
from .dense import check_dense_weight, dense_weight, dense_weight_bits

log = logging.getLogger(__name__)


class DenseComp(LayerKind):
    name = "dense_comp"
    compute = True
    extra_weights = ("weight_imag",)
    complex_synapse = True
    netx_type = "dense"

    @staticmethod
    def check(layer) -> None:
        for name, w in (("weight/real", layer.weight), ("weight/imag", layer.weight_imag)):
            check_dense_weight(layer, w, name)
            if not w.any():
                raise ValueError(f"every {name} is zero (netx cannot size such a synapse)")
            dense_weight_bits(w)
        if layer.bias is not None or layer.delay is not None:
            raise ValueError("a complex dense layer has no bias or delays (netx ignores them)")

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        in_shape, n_out, real = dense_weight(ctx, "weight/real")
        imag = dense_weight(ctx, "weight/imag")[2]
        ignored = [k for k in ("bias", "delay") if k in ctx.group]
        if ignored:
            log.warning(
                "layer %d: netx ignores a complex dense layer's %s",
                ctx.index,
                " and ".join(ignored),
            )
        return ctx.layer(
            "dense_comp", ctx.index, in_shape, (n_out,), neuron, real, weight_imag=imag
        )

    @staticmethod
    def write_netx(g, layer) -> None:
        g.create_dataset("weight/real", data=layer.weight)
        g.create_dataset("weight/imag", data=layer.weight_imag)
        g.create_dataset("inFeatures", data=layer.weight.shape[1])
        g.create_dataset("outFeatures", data=layer.weight.shape[0])

    @staticmethod
    def weight_bits(layer) -> int:
        return max(dense_weight_bits(w).num_weight_bits for w in (layer.weight, layer.weight_imag))
