"""Lava's CUBA / LOIHI leaky integrate-and-fire neuron as netx builds it (NX hdf5.py ``_neuron``):
``vThMant``, ``iDecay``, ``vDecay`` (integers), ``refDelay``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..h5 import scalar, write_type

DECAY_MAX = 4096  # 12-bit decays; 4096 forgets everything each step
NETX_TYPES = ("CUBA", "LOIHI")  # netx maps both to the same LIF


@dataclass(frozen=True)
class Neuron:
    """Lava's CUBA / LOIHI neuron as netx builds it: ``vThMant``, ``iDecay``, ``vDecay`` (integers)."""

    threshold: int  # vThMant; the spike test is v > threshold << 6
    current_decay: int  # iDecay in 0..4096
    voltage_decay: int  # vDecay in 0..4096
    kind: str = "CUBA"
    ref_delay: int = 1  # refDelay: written back, not used by Lava's CUBA LIF
    family: ClassVar[str] = "cuba"  # the emulator's kernel (engine/neurons/)

    def __post_init__(self):
        if self.kind not in NETX_TYPES:
            raise ValueError(f"neuron type {self.kind!r} (only CUBA / LOIHI neurons run)")
        for name in ("current_decay", "voltage_decay"):
            if not 0 <= getattr(self, name) <= DECAY_MAX:
                raise ValueError(f"{name} {getattr(self, name)} outside 0..{DECAY_MAX}")
        if self.threshold < 0:
            raise ValueError(f"threshold {self.threshold} is negative")

    @classmethod
    def read_netx(cls, n, read, kind: str, is_input: bool = False) -> "Neuron":
        """From a layer's ``neuron`` group (its ``type`` already read as ``kind``)."""
        needs = "a neuron needs type, vThMant, iDecay and vDecay"
        ref = scalar(read(n, "refDelay"), "refDelay") if "refDelay" in n else 1
        return cls(
            scalar(read(n, "vThMant", needs), "vThMant"),
            scalar(read(n, "iDecay", needs), "iDecay"),
            scalar(read(n, "vDecay", needs), "vDecay"),
            kind,
            ref,
        )

    def write_netx(self, g) -> None:
        """Into a layer group ``g`` as ``neuron/*``."""
        write_type(g, "neuron/type", self.kind)
        for key, value in (
            ("iDecay", self.current_decay),
            ("vDecay", self.voltage_decay),
            ("vThMant", self.threshold),
            ("refDelay", self.ref_delay),
        ):
            g.create_dataset(f"neuron/{key}", data=value)


# netx's own neuron for a dense layer that has none (NX hdf5.py create_dense); its threshold is
# netx's ``1 << 18 - 1``, which Python reads as 1 << 17
NETX_DEFAULT = Neuron(threshold=1 << 18 - 1, current_decay=0, voltage_decay=4096)
