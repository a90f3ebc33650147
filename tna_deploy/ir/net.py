"""The deployment IR: one format-neutral description of a deployed spiking network.

``DeployedNet`` holds the file's layers one for one (``input``, ``conv``, ``dense``, ``flatten``,
``dense_rec``, ``dense_comp``, and SLAYER's ``pool``, ``unpool``, ``convT`` and ``average``), each with
integer weights as the chip stores them, its geometry and its neuron's integer parameters (CUBA /
LOIHI, SDNN, RF / RF_IZ), plus what the file says about the input (shape, graded-spike bits, T) and
tna-deploy's metadata when present. The emulator, the report and the writers read it; nothing here
imports Lava or torch. Every dataclass validates itself on creation and raises ``ValueError`` naming
the field. What is particular to a layer kind (its checks, its netx fields) lives in ``layers/``, one
module per kind; a neuron kind likewise in ``neurons/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .layers.base import NOT_LAST
from .neurons.cuba import Neuron

INT16 = (-(1 << 15), (1 << 15) - 1)
MAX_NEURONS = 1 << 26  # per layer; far beyond any chip's, so only a damaged file gets near it


def _kinds() -> dict:
    from .layers import LAYER_KINDS  # the kinds import Layer from here

    return LAYER_KINDS


@dataclass(frozen=True, eq=False)
class Layer:
    """One netx layer. Shapes are torch order: (C, H, W) or (N,); geometry is (H, W).

    ``weight``: conv (Cout, Cin/groups, kH, kW), dense (out, in) over the flattened (C, H, W) input,
    both integers exactly as netx reads them (dense_comp: the real part, ``weight_imag`` the
    imaginary one; dense_rec: the input's, ``weight_rec`` (out, out) the layer's own spikes'); convT
    (Cin, Cout/groups, kH, kW) and a pool's or unpool's one kernel (1, 1, kH, kW), as SLAYER exports
    them (``layers/`` says what each kind computes). ``bias``: integers, per channel (C,) or per
    neuron (out_shape); Lava adds ``bias << 6`` to v every step. ``delay``: dense only, (out, in) in
    0..62. ``info``: tna-deploy's entry for the layer (name, kind, role, mode, weight_bits) when known."""

    kind: str
    index: int  # position in the file's layer/ group
    in_shape: tuple
    out_shape: tuple
    neuron: Optional[Neuron] = None
    weight: Optional[np.ndarray] = None
    bias: Optional[np.ndarray] = None
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    delay: Optional[np.ndarray] = None
    info: dict = field(default_factory=dict)
    weight_rec: Optional[np.ndarray] = None  # dense_rec: (out, out), the layer's own spikes back
    weight_imag: Optional[np.ndarray] = (
        None  # dense_comp: (out, in), ``weight`` being the real part
    )

    def __post_init__(self):
        kinds = _kinds()
        if self.kind not in kinds:
            raise ValueError(f"layer type {self.kind!r} (runs: {', '.join(kinds)})")
        kind = kinds[self.kind]
        for name in ("in_shape", "out_shape", "stride", "padding", "dilation"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if any(n < 1 for n in self.out_shape):
            raise ValueError(f"shape {self.out_shape} has an empty dimension")
        for name in (
            "in_shape",
            "out_shape",
        ):  # exact products: numpy's would wrap on a damaged shape
            if math.prod(getattr(self, name)) > MAX_NEURONS:
                raise ValueError(
                    f"{name} {getattr(self, name)} holds more than {MAX_NEURONS} neurons"
                )
        if kind.compute:
            if self.neuron is None:
                raise ValueError(f"{self.kind} layer without a neuron")
            if self.weight is None:
                raise ValueError(f"{self.kind} layer without weights")
            object.__setattr__(self, "weight", np.asarray(self.weight, dtype=np.int64))
        for name in ("weight_rec", "weight_imag"):
            if getattr(self, name) is not None:
                if name not in kind.extra_weights:
                    raise ValueError(f"a {self.kind} layer has no {name}")
                object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
            elif name in kind.extra_weights:
                raise ValueError(f"{self.kind} layer without {name}")
        if self.neuron is not None and getattr(self.neuron, "complex_input", False) != bool(
            kind.complex_synapse
        ):
            raise ValueError(
                f"a {self.neuron.kind} neuron cannot sit in a {self.kind} layer (netx connects "
                f"resonators only to a complex dense synapse's real and imaginary parts)"
            )
        kind.check(self)
        if self.neuron is not None and hasattr(self.neuron, "check_layer"):
            self.neuron.check_layer(self)  # what a neuron kind asks of its layer
        if self.bias is not None:
            b = np.asarray(self.bias, dtype=np.int64)
            if b.shape not in ((), (self.out_shape[0],), self.out_shape):
                raise ValueError(
                    f"bias of shape {b.shape} fits neither a channel nor a neuron of {self.out_shape}"
                )
            if b.min() < INT16[0] or b.max() > INT16[1]:
                raise ValueError(
                    f"bias {int(b.min())}..{int(b.max())} outside Loihi's 16-bit bias_mant"
                )
            object.__setattr__(self, "bias", b)

    # what the report and the emulator ask of a layer
    @property
    def name(self) -> str:
        return self.info.get("name", f"{self.index}:{self.kind}")

    @property
    def role(self) -> str:
        return self.info.get("role", "")

    @property
    def mode(self) -> str:
        return self.info.get("mode", "int8")

    @property
    def label(self) -> str:
        """The kind the network's author gave the layer (pool, output, ...), else the netx type."""
        return self.info.get("kind", self.kind)

    @property
    def weight_bits(self) -> int:
        if "weight_bits" in self.info:
            return int(self.info["weight_bits"])
        return _kinds()[self.kind].weight_bits(self)

    @property
    def neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def inputs(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def is_conv(self) -> bool:
        return self.kind == "conv"

    def bias_per_neuron(self) -> Optional[np.ndarray]:
        """The bias broadcast to ``out_shape`` (None without one)."""
        if self.bias is None:
            return None
        b = self.bias
        if b.ndim == 1 and len(self.out_shape) > 1:
            b = b.reshape((-1,) + (1,) * (len(self.out_shape) - 1))
        return np.broadcast_to(b, self.out_shape).copy()

    def same(self, other: "Layer") -> bool:
        """Equal in every field, arrays compared by value."""

        def eq(a, b):
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                return a is not None and b is not None and np.array_equal(a, b)
            return a == b

        return all(eq(getattr(self, f), getattr(other, f)) for f in self.__dataclass_fields__)


@dataclass(frozen=True, eq=False)
class DeployedNet:
    """A deployed network: the file's layers in order plus its input and run settings."""

    layers: tuple
    input_shape: tuple  # (C, H, W) or (N,)
    input_bits: int = 0  # graded-spike bits of the input into the first synapse (0: binary)
    timesteps: Optional[int] = None
    n_classes: Optional[int] = None
    meta: dict = field(
        default_factory=dict
    )  # tna-deploy metadata (root attributes), {} for other files

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        if not self.compute_layers:
            raise ValueError("no conv or dense layer")
        if self.input_bits < 0 or self.input_bits > 24:
            raise ValueError(f"input bits {self.input_bits} outside 0..24")
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"timesteps {self.timesteps} must be at least 1")
        kinds = _kinds()
        for layer in self.layers[:-1]:
            if kinds[layer.kind].readout:
                raise ValueError(f"layer {layer.index} ({layer.kind}) is {NOT_LAST}")
        for prev, layer in zip(self.layers, self.layers[1:]):
            if layer.kind != "input" and int(np.prod(prev.out_shape)) != int(
                np.prod(layer.in_shape)
            ):
                raise ValueError(
                    f"layer {layer.index} takes {layer.in_shape}, layer {prev.index} gives {prev.out_shape}"
                )

    @property
    def compute_layers(self) -> list:
        """The layers Lava runs as processes (``Network.layers``): those with a neuron."""
        return [layer for layer in self.layers if layer.neuron is not None]

    @property
    def input_neuron(self) -> bool:
        """True when the input layer has its own neuron (inputs then enter its ``a_in``)."""
        return self.layers[0].kind == "input" and self.layers[0].neuron is not None

    def same(self, other: "DeployedNet") -> bool:
        return (
            len(self.layers) == len(other.layers)
            and all(a.same(b) for a, b in zip(self.layers, other.layers))
            and (self.input_shape, self.input_bits, self.timesteps, self.n_classes, self.meta)
            == (other.input_shape, other.input_bits, other.timesteps, other.n_classes, other.meta)
        )
