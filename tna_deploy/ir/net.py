"""The deployment IR: one format-neutral description of a deployed spiking network.

``DeployedNet`` holds the file's layers one for one (``input``, ``conv``, ``dense``, ``flatten``), each
with integer weights as the chip stores them, its geometry and its CUBA neuron's integer parameters,
plus what the file says about the input (shape, graded-spike bits, T) and tna-deploy's metadata when
present. The emulator, the report and the netx writer read it; nothing here imports Lava or torch.
Every dataclass validates itself on creation and raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

KINDS = ("input", "conv", "dense", "flatten")
DECAY_MAX = 4096  # 12-bit decays; 4096 forgets everything each step
INT16 = (-(1 << 15), (1 << 15) - 1)
MAX_DELAY = 62  # netx clips dense delays to 62 steps
MAX_NEURONS = 1 << 26  # per layer; far beyond any chip's, so only a damaged file gets near it


@dataclass(frozen=True)
class Neuron:
    """Lava's CUBA / LOIHI neuron as netx builds it: ``vThMant``, ``iDecay``, ``vDecay`` (integers)."""

    threshold: int  # vThMant; the spike test is v > threshold << 6
    current_decay: int  # iDecay in 0..4096
    voltage_decay: int  # vDecay in 0..4096
    kind: str = "CUBA"
    ref_delay: int = 1  # refDelay: written back, not used by Lava's CUBA LIF

    def __post_init__(self):
        if self.kind not in ("CUBA", "LOIHI"):
            raise ValueError(f"neuron type {self.kind!r} (only CUBA / LOIHI neurons run)")
        for name in ("current_decay", "voltage_decay"):
            if not 0 <= getattr(self, name) <= DECAY_MAX:
                raise ValueError(f"{name} {getattr(self, name)} outside 0..{DECAY_MAX}")
        if self.threshold < 0:
            raise ValueError(f"threshold {self.threshold} is negative")


def conv_out_hw(
    h: int, w: int, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple
) -> tuple:
    return tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip((h, w), kernel, stride, padding, dilation)
    )


@dataclass(frozen=True, eq=False)
class Layer:
    """One netx layer. Shapes are torch order: (C, H, W) or (N,); geometry is (H, W).

    ``weight``: conv (Cout, Cin/groups, kH, kW), dense (out, in) over the flattened (C, H, W) input,
    both integers exactly as netx reads them. ``bias``: integers, per channel (C,) or per neuron
    (out_shape); Lava adds ``bias << 6`` to v every step. ``delay``: dense only, (out, in) in 0..62.
    ``info``: tna-deploy's entry for the layer (name, kind, role, mode, weight_bits) when known."""

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

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"layer type {self.kind!r} (runs: {', '.join(KINDS)})")
        for name in ("in_shape", "out_shape", "stride", "padding", "dilation"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if any(n < 1 for n in self.out_shape):
            raise ValueError(f"shape {self.out_shape} has an empty dimension")
        for name in (
            "in_shape",
            "out_shape",
        ):  # exact products: numpy's would wrap around on a damaged shape
            if math.prod(getattr(self, name)) > MAX_NEURONS:
                raise ValueError(
                    f"{name} {getattr(self, name)} holds more than {MAX_NEURONS} neurons"
                )
        if self.kind in ("conv", "dense"):
            if self.neuron is None:
                raise ValueError(f"{self.kind} layer without a neuron")
            if self.weight is None:
                raise ValueError(f"{self.kind} layer without weights")
            object.__setattr__(self, "weight", np.asarray(self.weight, dtype=np.int64))
        getattr(self, f"_check_{self.kind}")()
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

    def _check_input(self):
        if self.in_shape != self.out_shape:
            raise ValueError(f"input layer shapes differ: {self.in_shape} vs {self.out_shape}")

    def _check_flatten(self):
        if int(np.prod(self.out_shape)) != int(np.prod(self.in_shape)):
            raise ValueError(f"flatten of {self.in_shape} cannot have shape {self.out_shape}")

    def _check_conv(self):
        w = self.weight
        if len(self.in_shape) != 3 or len(self.out_shape) != 3 or w.ndim != 4:
            raise ValueError(
                f"conv needs (C, H, W) shapes and 4-D weights, got {self.in_shape} -> "
                f"{self.out_shape}, weights {w.shape}"
            )
        c_in, h, wd = self.in_shape
        if (
            self.groups < 1
            or c_in % self.groups
            or w.shape[0] % self.groups
            or w.shape[1] * self.groups != c_in
        ):
            raise ValueError(
                f"weights {w.shape} with groups {self.groups} do not take {c_in} input channels"
            )
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"stride {self.stride}, padding {self.padding}, dilation {self.dilation}"
            )
        expect = (w.shape[0],) + conv_out_hw(
            h, wd, w.shape[2:], self.stride, self.padding, self.dilation
        )
        if expect != self.out_shape:
            raise ValueError(
                f"shape {self.out_shape} is not the output shape {expect} of weights {w.shape} with "
                f"stride {self.stride}, padding {self.padding}, dilation {self.dilation}"
            )

    def _check_dense(self):
        w = self.weight
        n_in = int(np.prod(self.in_shape))
        if w.ndim != 2 or w.shape != (int(np.prod(self.out_shape)), n_in):
            raise ValueError(
                f"weights {w.shape} do not map {n_in} inputs to shape {self.out_shape}"
            )
        if not w.any():
            raise ValueError("every weight is zero (netx cannot size such a synapse)")
        dense_weight_bits(w)
        if self.delay is not None:
            d = np.asarray(self.delay, dtype=np.int64)
            if d.shape != w.shape:
                raise ValueError(f"delays {d.shape} do not match weights {w.shape}")
            if d.min() < 0 or d.max() > MAX_DELAY:
                raise ValueError(f"delays {int(d.min())}..{int(d.max())} outside 0..{MAX_DELAY}")
            object.__setattr__(self, "delay", d)

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
        return dense_weight_bits(self.weight).num_weight_bits if self.kind == "dense" else 8

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


@dataclass(frozen=True)
class DenseWeights:
    """What netx's ``optimize_weight_bits`` and Lava's ``PyDenseModelBitAcc`` make of dense weights."""

    weight: np.ndarray  # after the left shift, clip to 8 bits and truncation to num_weight_bits
    num_weight_bits: int
    weight_exp: int  # the accumulated sum is shifted by this (right when negative, flooring)
    # the steps from the file's weights w to ``weight``, for writers that spell them out (ONNX):
    # w' = clip(w, -256, 254) when pre_clip; x = +-(w' << -weight_exp) (minus when negative);
    # x = clip(x, *clip); x = (x >> drop) << drop; weight = +-x
    pre_clip: bool = False
    negative: bool = False
    clip: tuple = (-256, 255)
    drop: int = 0


def dense_weight_bits(weight: np.ndarray) -> DenseWeights:
    """netx ``utils.optimize_weight_bits`` then Lava's ``clip_weights`` / ``truncate_weights``."""
    w = np.asarray(weight, dtype=np.int64)
    hi, lo = int(w.max()), int(w.min())
    pre_clip = (hi > 254 and lo < 0) or (lo < -256 and hi > 0)
    if pre_clip:
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:
        signed, scale = 0, -256 / lo
    elif lo >= 0:
        signed, scale = 0, 255 / hi
    else:
        signed, scale = (
            1,
            min(127 / hi if hi else math.inf, -128 / lo),
        )  # netx's numpy: 127 / 0 is inf
    scale_bits = int(math.floor(math.log2(scale))) + signed
    if scale_bits < 0:
        raise ValueError(f"weights {lo}..{hi} do not fit Loihi's 8-bit synapse")
    n = 8
    while n > 0 and np.abs(w / 2**n - np.round(w / 2**n)).sum() != 0:
        n -= 1
    n -= signed
    num_bits = 8 - scale_bits - n
    scaled = (w.astype(np.int32) << scale_bits).astype(np.int64)
    # Lava re-derives the sign mode from the scaled weights, then clips to 8 bits and truncates
    if scaled.min() >= 0:
        mode_min, mode_max, neg, mixed = 0, 255, False, 0
    elif scaled.max() <= 0:
        mode_min, mode_max, neg, mixed = 0, 255, True, 0
    else:
        mode_min, mode_max, neg, mixed = -256, 255, False, 1
    x = -scaled if neg else scaled
    x = np.clip(x, mode_min, mode_max)
    drop = 8 - num_bits + mixed
    x = (x >> drop) << drop
    return DenseWeights(
        -x if neg else x, num_bits, -scale_bits, pre_clip, neg, (mode_min, mode_max), drop
    )


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
