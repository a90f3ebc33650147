"""What the ONNX and NIR writers write: the layer and neuron kinds of tna-deploy's own networks. Anything
else the emulator runs (SLAYER's pool / unpool / convT / average, recurrent and complex dense layers,
sigma-delta and resonate-and-fire neurons) is refused in one line naming the layer."""

from __future__ import annotations

WRITES = ("input", "conv", "dense", "flatten")  # the layer kinds the writers spell out
NEURON_FAMILIES = ("cuba",)


def refuse_unwritable(net, fmt: str, error: type) -> None:
    """Raise ``error`` for the first layer of ``net`` that format ``fmt`` cannot hold."""
    for layer in net.layers:
        if layer.kind not in WRITES:
            raise error(
                f"layer {layer.name}: tna-deploy writes no {fmt} for a {layer.kind} layer yet "
                f"(it writes {', '.join(WRITES)}); the emulator runs it"
            )
        if layer.neuron is not None and layer.neuron.family not in NEURON_FAMILIES:
            raise error(
                f"layer {layer.name}: tna-deploy writes no {fmt} for {layer.neuron.kind} neurons "
                f"yet (only CUBA / LOIHI); the emulator runs them"
            )
