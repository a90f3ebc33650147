"""The weight modes, in one registry (no imports): the name a layer's weights carry from
``train --weights`` through the quantizers and the IR to the report, and what the name means on the
chip. ``quant/modes.py`` re-exports it; the quantizer of each mode is dispatched by name in
``quant/quantizers.py``. A new mode is one line here and one quantizer function there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightMode:
    help: str
    middle: bool = True  # a base's middle layers may take it (``train --weights``)
    bits: int = 8  # bits one weight of this mode takes in the chip's synapse memory
    compressed: bool = False  # a few shared levels (ternary, binary) rather than an integer grid


WEIGHT_MODES: dict[str, WeightMode] = {
    "fp": WeightMode("full precision: the latent weight itself"),
    "int8": WeightMode(
        "Loihi 8-bit, a 1/32 grid in [-4, 3.97] (first and last layers)", middle=False
    ),
    "ternary": WeightMode(
        "{-s, 0, +s}, |w| <= delta * max|w| -> 0 (paper Eq. 6)", bits=2, compressed=True
    ),
    "binary": WeightMode("{-s, +s}, s = mean |w|", bits=1, compressed=True),
}


def weight_bits(mode: str) -> int:
    """The bits one weight of ``mode`` takes on the chip (8 for a mode not in the registry)."""
    m = WEIGHT_MODES.get(mode)
    return m.bits if m is not None else 8


def is_compressed(mode: str) -> bool:
    m = WEIGHT_MODES.get(mode)
    return m is not None and m.compressed
