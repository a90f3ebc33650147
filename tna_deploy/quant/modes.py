"""The weight modes, in one registry (import-light, no torch): the quantizers, the netx reader and
``train --weights`` read it. ``middle`` marks the modes a base's middle layers may take (--weights);
int8 is the Loihi 8-bit mode of a compressed base's first and last layers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    help: str
    middle: bool = True


MODES: dict[str, Mode] = {
    "fp": Mode("full precision: the latent weight itself"),
    "int8": Mode("Loihi 8-bit, a 1/32 grid in [-4, 3.97] (first and last layers)", middle=False),
    "ternary": Mode("{-s, 0, +s}, |w| <= delta * max|w| -> 0 (paper Eq. 6)"),
    "binary": Mode("{-s, +s}, s = mean |w|"),
}


class _Middle:
    """A live, read-only view of the middle-layer modes (``train --weights``): names in registry order."""

    def _names(self) -> tuple[str, ...]:
        return tuple(k for k, m in MODES.items() if m.middle)

    def __iter__(self):
        return iter(self._names())

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __len__(self) -> int:
        return len(self._names())

    def __getitem__(self, i):
        return self._names()[i]

    def __repr__(self) -> str:
        return repr(self._names())


WEIGHT_MODES = _Middle()
