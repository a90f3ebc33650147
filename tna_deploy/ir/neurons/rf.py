"""Lava's resonate-and-fire neurons as netx builds them (NX hdf5.py ``get_neuron_params``): any
neuron ``type`` containing ``RF`` is a resonator, ``RF`` when the type contains ``PHASE`` (SLAYER's
``RF_PHASE``: a spike when the phase crosses zero above threshold) and ``RF_IZ`` otherwise (a spike
when the imaginary part reaches the threshold). The file gives ``sinDecay``, ``cosDecay`` (12-bit
fractions) and ``vThMant``; netx turns the decays into a period and an alpha in float64
(``slayer.neuron.rf.neuron_params``) and Lava's process turns those back into integers
(``lava.proc.rf.process.RF``) -- about half of all pairs come back one lower than the file's, so
``lava_decays`` repeats those float steps. netx builds a resonator only behind a complex synapse
(``ComplexDense``), never resets it (``reset_interval`` is ignored) and gives it no bias."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..h5 import scalar, write_type

DECAY_BITS = 12  # netx: decay_bits=12
STATE_EXP = 6  # netx: state_exp=6 (a_in and vth are shifted by it)
DECAY_MAX = 1 << DECAY_BITS
NEEDS = "a resonator neuron needs type, vThMant, sinDecay and cosDecay"


def lava_decays(sin_decay: int, cos_decay: int) -> tuple:
    """The integer (sin, cos) decays Lava's RF process ends up with for the file's ones: netx's
    ``neuron_params`` (period, alpha) then ``RF.__init__``'s ``np.int32(... * (1 << 12))``, in the
    same float64 operations."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.float64(sin_decay) / DECAY_MAX
        c = np.float64(cos_decay) / DECAY_MAX
        alpha = 1 - np.sqrt(s**2 + c**2)
        period = 1 / (np.arctan2(s, c) / 2 / np.pi)
        sin_l = (1 - alpha) * np.sin(np.pi * 2 * 1 / period)
        cos_l = (1 - alpha) * np.cos(np.pi * 2 * 1 / period)
        return int(np.int32(sin_l * DECAY_MAX)), int(np.int32(cos_l * DECAY_MAX))


def _integral(v, name: str) -> int:
    """One integer (netx reads these fields raw and computes with them in float)."""
    v = np.asarray(v).reshape(-1)
    if v.dtype.kind not in "uif" or not (np.isfinite(v) & (v == np.round(v))).all():
        raise ValueError(f"{name} {v[:4].tolist()} is not an integer")
    return scalar(v, name)


@dataclass(frozen=True)
class RFNeuron:
    """Lava's RF / RF_IZ neuron as netx builds it: ``vThMant`` and the file's 12-bit decays."""

    threshold: int  # vThMant; Lava compares against threshold << 6
    sin_decay: int  # sinDecay, -4096..4096
    cos_decay: int  # cosDecay, -4096..4096
    kind: str = "RF_PHASE"
    family: ClassVar[str] = "rf"  # the emulator's kernel (engine/neurons/)
    complex_input: ClassVar[bool] = True  # takes (real, imag) from a complex synapse

    def __post_init__(self):
        if "RF" not in self.kind:
            raise ValueError(f"neuron type {self.kind!r} is not a resonator (netx: contains RF)")
        for name in ("sin_decay", "cos_decay"):
            if not -DECAY_MAX <= getattr(self, name) <= DECAY_MAX:
                raise ValueError(f"{name} {getattr(self, name)} outside -4096..4096")
        if not 0 <= self.threshold < 1 << (31 - STATE_EXP):
            raise ValueError(f"threshold {self.threshold} outside 0..2^25 (Lava's int32 vth << 6)")

    @property
    def phase(self) -> bool:
        """Lava's RF (spike on the phase crossing zero) rather than RF_IZ."""
        return "PHASE" in self.kind

    @classmethod
    def read_netx(cls, n, read, kind: str, is_input: bool = False) -> "RFNeuron":
        """From a layer's ``neuron`` group (its ``type`` already read as ``kind``)."""
        th, s, c = (_integral(read(n, k, NEEDS), k) for k in ("vThMant", "sinDecay", "cosDecay"))
        return cls(th, s, c, kind)

    def write_netx(self, g) -> None:
        """Into a layer group ``g`` as ``neuron/*``, as SLAYER's ``rf.Neuron.device_params``."""
        write_type(g, "neuron/type", self.kind)
        g.create_dataset("neuron/sinDecay", data=self.sin_decay)
        g.create_dataset("neuron/cosDecay", data=self.cos_decay)
        g.create_dataset("neuron/vThMant", data=self.threshold)
