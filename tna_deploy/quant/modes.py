"""The weight modes (import-light, no torch): the quantizers, the config and ``train --weights`` read
them. The registry itself lives in the IR (``tna_deploy/ir/modes.py``), so a mode keeps one name and
one meaning (its bits on the chip) from ``--weights`` to the exported file. ``middle`` marks the modes
a base's middle layers may take (--weights); int8 is the Loihi 8-bit mode of a compressed base's first
and last layers."""

from __future__ import annotations

from ..ir.modes import WEIGHT_MODES as MODES
from ..ir.modes import WeightMode as Mode
from ..ir.modes import is_compressed, weight_bits

__all__ = ["MODES", "Mode", "WEIGHT_MODES", "is_compressed", "weight_bits"]


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
