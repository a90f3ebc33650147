"""netx's ``SDNN`` (sigma-delta) neuron, as ``Network.get_neuron_params`` builds it (NX hdf5.py): the
input layer's neuron is Lava's ``Delta``, a neuron group with a ``sigma_output`` key (present, whatever
its value) is a ``Sigma``, any other is a ``SigmaDelta`` (ReLU: netx passes no ``act_mode``). Delta and
SigmaDelta take ``vThMant`` as ``vth`` with netx's ``spike_exp`` (``Network(spike_exp=6)``) and
``state_exp = 6``. Every role sends graded spikes with netx's default 16 message bits: a
``messageBits`` key would set them, but netx's NetDict hands it to Lava as a group and Lava fails, so
such a file is refused. Only a SigmaDelta takes a bias (Lava's Delta and Sigma processes have none:
netx fails on one). ``activation`` is the label lava-dl writes (netx ignores it). ``spike_exp``,
``state_exp``, ``cum_error``, ``act_mode`` and ``message_bits`` (0: the next synapse takes the spikes
as binary) are Lava's process parameters, which a netx file cannot carry: the emulator runs them, the
writer refuses values other than netx's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from ..h5 import scalar, text, write_type

ROLES = ("delta", "sigma_delta", "sigma")
ACT_MODES = ("relu", "unit")  # Lava's ActivationMode.RELU / UNIT
NETX_SPIKE_EXP = 6  # netx.hdf5.Network(spike_exp=6)
NETX_STATE_EXP = 6  # netx's fixed state_exp
NETX_MESSAGE_BITS = 16  # netx's default messageBits for SDNN
MAX_MESSAGE_BITS = 24  # Loihi 2's widest graded spike
MAX_EXP = 7  # Lava's spike_exp / state_exp Vars hold 3 bits
INT32_MAX = (1 << 31) - 1


@dataclass(frozen=True)
class SigmaDeltaNeuron:
    """Lava's ``Delta`` / ``SigmaDelta`` / ``Sigma`` (fixed point) as netx builds an ``SDNN`` neuron."""

    role: str  # "delta" (input layer), "sigma_delta" (hidden), "sigma" (sigma_output)
    threshold: Optional[int] = 0  # vThMant (None: a sigma neuron without one)
    message_bits: int = NETX_MESSAGE_BITS  # messageBits of its output spikes
    activation: str = ""  # lava-dl's label (netx ignores it)
    spike_exp: int = NETX_SPIKE_EXP
    state_exp: int = NETX_STATE_EXP
    cum_error: bool = False
    act_mode: str = "relu"
    kind: str = "SDNN"
    family: ClassVar[str] = "sdnn"  # the emulator's kernel (engine/neurons/)

    def __post_init__(self):
        if self.kind != "SDNN":
            raise ValueError(f"neuron type {self.kind!r} is not SDNN")
        if self.role not in ROLES:
            raise ValueError(f"sigma-delta role {self.role!r}: one of {', '.join(ROLES)}")
        if self.act_mode not in ACT_MODES:
            raise ValueError(f"act_mode {self.act_mode!r}: one of {', '.join(ACT_MODES)}")
        for name, hi in (
            ("message_bits", MAX_MESSAGE_BITS),
            ("spike_exp", MAX_EXP),
            ("state_exp", MAX_EXP),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
                raise ValueError(f"{name} {v!r} outside 0..{hi}")
        if not isinstance(self.cum_error, bool):
            raise ValueError(f"cum_error {self.cum_error!r} is not true or false")
        if self.threshold is None:
            if self.role != "sigma":
                raise ValueError(f"a {self.role} neuron needs vThMant")
        elif self.threshold < 0 or self.threshold << self.exp > INT32_MAX:
            raise ValueError(
                f"vThMant {self.threshold} outside 0..{INT32_MAX >> self.exp} (Lava's int32 vth is "
                f"vThMant << {self.exp})"
            )

    @property
    def exp(self) -> int:
        """Lava's vth, bias and a Delta's input are scaled by 2 ** (spike_exp + state_exp)."""
        return self.spike_exp + self.state_exp

    def check_layer(self, layer) -> None:
        """netx builds a Delta on the input layer and only there, and only a SigmaDelta takes a bias."""
        if (self.role == "delta") != (layer.kind == "input"):
            raise ValueError(
                f"a {self.role} neuron on a {layer.kind} layer (netx makes the input layer's SDNN "
                f"neuron a delta, every other one a sigma_delta or sigma)"
            )
        if layer.bias is not None and self.role != "sigma_delta":
            raise ValueError(f"bias on a {self.role} neuron (Lava's {self.role} takes none)")

    @classmethod
    def read_netx(cls, n, read, kind: str, is_input: bool = False) -> "SigmaDeltaNeuron":
        """From a layer's ``neuron`` group (its ``type`` already read as ``kind``)."""
        role = "delta" if is_input else "sigma" if "sigma_output" in n else "sigma_delta"
        if "vThMant" in n or role != "sigma":
            threshold = scalar(
                read(n, "vThMant", f"an SDNN {role} neuron needs vThMant"), "vThMant"
            )
        else:
            threshold = None
        if "messageBits" in n:
            raise ValueError(
                "its messageBits field cannot run: netx's NetDict hands it to Lava as a group, "
                "not a number (leave it out: netx's SDNN default is 16)"
            )
        label = text(read(n, "activation")) if "activation" in n else ""
        return cls(role, threshold, NETX_MESSAGE_BITS, label, kind=kind)

    def write_netx(self, g) -> None:
        """Into a layer group ``g`` as ``neuron/*`` (the role follows from the layer and
        ``sigma_output``)."""
        lava_only = dict(
            spike_exp=(self.spike_exp, NETX_SPIKE_EXP),
            state_exp=(self.state_exp, NETX_STATE_EXP),
            cum_error=(self.cum_error, False),
            act_mode=(self.act_mode, "relu"),
            message_bits=(self.message_bits, NETX_MESSAGE_BITS),
        )
        for name, (value, netx) in lava_only.items():
            if value != netx:
                raise ValueError(
                    f"SDNN {name} {value!r}: a netx file can only hold netx's {netx!r}"
                )
        write_type(g, "neuron/type", self.kind)
        if self.threshold is not None:
            g.create_dataset("neuron/vThMant", data=self.threshold)
        if self.activation:
            g.create_dataset("neuron/activation", data=self.activation)
        if self.role == "sigma":
            g.create_dataset("neuron/sigma_output", data=True)
