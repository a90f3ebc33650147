"""What every simulate source returns for a chunk of samples: the emulator, Lava, onnxruntime and the
run's PyTorch model alike (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Trace:
    """Per compute layer, window-aligned, (K, *shape, T): spikes (uint8; the read-out's are absent where a
    source does not give them), and when recorded the current u and voltage v (after reset, as Lava's Vars
    hold them) in state units (int32). ``logits`` (K, classes) float64: the read-out's voltage at its
    window's last step / 4096."""

    spikes: list
    logits: np.ndarray
    current: Optional[list] = None
    voltage: Optional[list] = None

    @staticmethod
    def concat(parts: list) -> "Trace":
        """The traces of consecutive samples as one."""
        if len(parts) == 1:
            return parts[0]
        join = lambda name: (  # noqa: E731
            None
            if getattr(parts[0], name) is None
            else [np.concatenate(arrays) for arrays in zip(*(getattr(t, name) for t in parts))]
        )
        logits = np.concatenate([t.logits for t in parts])
        return Trace(join("spikes"), logits, join("current"), join("voltage"))

    def slice(self, a: int, b: int) -> "Trace":
        """Samples ``a:b`` of every array."""
        cut = lambda arrays: None if arrays is None else [v[a:b] for v in arrays]  # noqa: E731
        return Trace(cut(self.spikes), self.logits[a:b], cut(self.current), cut(self.voltage))
