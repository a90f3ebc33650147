"""A spiking network from lava-dl SLAYER CUBA blocks, built from an architecture string.

Layout (every block ``delay_shift=False``: the PyTorch model has no per-layer latency; the chip's
one-step-per-layer latency is a pure time shift, accounted for by the simulator):

  input   integer-valued graded spikes (N, C, H, W, T): pixel intensities 0..2^b-1, or DVS counts
  conv    cuba.Conv, 'same' padding; the first conv's threshold is scaled by the input's full scale
  pool    cuba.Conv with groups=C, stride=k and a fixed weight just above threshold (spiking OR-pool)
  flatten cuba.Flatten before the first FC layer
  dense   cuba.Dense, dropout on its spikes
  output  cuba.Affine: a non-spiking, non-leaky integrator; the logit is its voltage at the last step,
          i.e. the synaptic input summed over all timesteps

Weights: the first and last layers are 8-bit (``int8``); the middle layers are full precision until
compression starts, then ternary or binary. Pool weights are fixed and never trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..quant.modes import is_compressed
from ..quant.quantizers import W_SCALE, WeightQuantizer
from .arch import LayerSpec

_slayer = None


def slayer():
    """Import lava-dl's SLAYER lazily (it takes seconds and prints a CUDA notice)."""
    global _slayer
    if _slayer is None:
        from ..lava_import import quiet_import

        _slayer = quiet_import(
            "lava.lib.dl.slayer", "a run's network (train, evaluate, export RUN, simulate --run)"
        )
        _widen_slayer_state()
    return _slayer


def _widen_slayer_state() -> None:
    """Run SLAYER's CPU fixed-point dynamics in int64 instead of its default int32.

    ``_li_dynamics_fwd`` multiplies the state (up to 24 bits + 6 on Loihi) by a 12-bit decay; in
    int32 that product wraps once |v| reaches 128 (in float units), silently corrupting the
    dynamics, while Loihi's own limit is 2048. int64 makes SLAYER exact over Loihi's whole range.
    """
    from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator as li

    if li._li_dynamics_fwd.__defaults__ == (torch.int32,):
        li._li_dynamics_fwd.__defaults__ = (torch.int64,)


@dataclass(frozen=True)
class NeuronSettings:
    """The CUBA neuron of every block; its defaults live once, in ``TrainConfig`` (``from_config``)."""

    threshold: float
    current_decay: float
    voltage_decay: float
    tau_grad: float
    scale_grad: float

    @classmethod
    def from_config(cls, cfg) -> "NeuronSettings":
        return cls(
            cfg.threshold, cfg.current_decay, cfg.voltage_decay, cfg.tau_grad, cfg.scale_grad
        )

    def params(self, threshold_scale: float = 1.0, dropout: float = 0.0) -> dict:
        p = dict(
            threshold=self.threshold * threshold_scale,
            current_decay=self.current_decay,
            voltage_decay=self.voltage_decay,
            tau_grad=self.tau_grad,
            scale_grad=self.scale_grad,
            requires_grad=False,
            shared_param=True,
            persistent_state=False,
        )
        if dropout > 0:
            p["dropout"] = slayer().neuron.Dropout(p=dropout)
        return p


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str  # conv | pool | flatten | dense | output
    role: str  # first | middle | last | fixed (pool) | none (flatten)


class SpikingNet(nn.Module):
    """Blocks in order; ``forward`` returns logits (N, classes) and, if asked, every block's output."""

    def __init__(
        self,
        specs: list[LayerSpec],
        in_shape: tuple[int, int, int],
        n_classes: int,
        neuron: NeuronSettings,
        input_scale: float,
        dropout: float,
        weight_scale: float,
        middle_mode: str,
        delta: float,
        edge_mode: str = "int8",
    ):
        super().__init__()
        s = slayer()
        self.in_shape = tuple(in_shape)
        self.n_classes = n_classes
        self.engine = "fast"  # how forward computes; not part of the state_dict
        self.middle_target = middle_mode  # the mode middle layers take once compression starts
        self.blocks = nn.ModuleList()
        self.info: list[LayerInfo] = []
        self.quantizers: list[Optional[WeightQuantizer]] = []
        c, h, w = in_shape
        first = True
        flat = False
        n_weighted = sum(1 for sp in specs if sp.kind != "pool") + 1
        k_weighted = 0

        def quantizer_for(index: int) -> WeightQuantizer:
            if index == 0 or index == n_weighted - 1:
                return WeightQuantizer(edge_mode, delta)
            return WeightQuantizer("fp", delta)

        for sp in specs:
            if sp.kind == "conv":
                q = quantizer_for(k_weighted)
                params = neuron.params(threshold_scale=input_scale if first else 1.0)
                blk = s.block.cuba.Conv(
                    params,
                    c,
                    sp.size,
                    sp.kernel,
                    padding=sp.kernel // 2,
                    weight_scale=weight_scale,
                    weight_norm=False,
                    pre_hook_fx=q,
                    delay_shift=False,
                )
                role = "first" if k_weighted == 0 else "middle"
                c = sp.size
                k_weighted += 1
                self._add(blk, "conv", role, q)
            elif sp.kind == "pool":
                if first:
                    raise ValueError(
                        "an architecture cannot start with a pool layer (its input is graded)"
                    )
                if h % sp.size or w % sp.size:
                    from ..errors import ConfigError

                    raise ConfigError(
                        f"AP{sp.size} needs a feature map divisible by {sp.size}, got {h}x{w}"
                    )
                q = WeightQuantizer("fp", delta)
                blk = s.block.cuba.Conv(
                    neuron.params(),
                    c,
                    c,
                    sp.size,
                    stride=sp.size,
                    groups=c,
                    weight_scale=1,
                    weight_norm=False,
                    pre_hook_fx=q,
                    delay_shift=False,
                )
                with torch.no_grad():
                    blk.synapse.weight.fill_(pool_weight(neuron.threshold))
                blk.synapse.weight.requires_grad_(False)
                h, w = h // sp.size, w // sp.size
                self._add(blk, "pool", "fixed", q)
            else:
                if not flat:
                    self._add(s.block.cuba.Flatten(), "flatten", "none", None)
                    n_in = c * h * w
                    flat = True
                q = quantizer_for(k_weighted)
                params = neuron.params(
                    threshold_scale=input_scale if first else 1.0, dropout=dropout
                )
                blk = s.block.cuba.Dense(
                    params,
                    n_in,
                    sp.size,
                    weight_scale=weight_scale,
                    weight_norm=False,
                    pre_hook_fx=q,
                    delay_shift=False,
                )
                n_in = sp.size
                role = "first" if k_weighted == 0 else "middle"
                k_weighted += 1
                self._add(blk, "dense", role, q)
            first = False
        if not flat:
            self._add(s.block.cuba.Flatten(), "flatten", "none", None)
            n_in = c * h * w
        q = WeightQuantizer(edge_mode, delta)
        out_params = dict(neuron.params(), current_decay=1.0, voltage_decay=0.0)
        blk = s.block.cuba.Affine(
            out_params, n_in, n_classes, weight_scale=weight_scale, weight_norm=False, pre_hook_fx=q
        )
        self._add(blk, "output", "last", q)

    def _add(self, blk: nn.Module, kind: str, role: str, q: Optional[WeightQuantizer]) -> None:
        self.info.append(LayerInfo(f"{len(self.blocks)}:{kind}", kind, role))
        self.blocks.append(blk)
        self.quantizers.append(q)

    # ---- compression -------------------------------------------------------------------
    def set_compression(self, active: bool) -> None:
        """Switch the middle layers between full precision and their compressed mode."""
        for info, q in zip(self.info, self.quantizers):
            if info.role == "middle":
                q.mode = self.middle_target if active else "fp"

    @property
    def compressed(self) -> bool:
        return any(
            is_compressed(q.mode) for i, q in zip(self.info, self.quantizers) if i.role == "middle"
        )

    def quantized_weight(self, index: int) -> torch.Tensor:
        """The integer weights (x64) block ``index`` computes with, as a float tensor."""
        blk = self.blocks[index]
        return self.quantizers[index](blk.synapse.weight, descale=True).detach()

    # ---- forward -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, return_trace: bool = False):
        """``x``: (N, C, H, W, T) graded input. Returns logits (N, classes) [, list of block outputs].

        ``self.engine`` picks how the blocks compute: ``fast`` (``models/fast.py``) or ``slayer``
        (each block's own forward, stock lava-dl); both give the same spikes and logits."""
        if self.engine == "fast":
            from .fast import fast_forward, supports

            if supports(self):
                return fast_forward(self, x, return_trace)
        trace = []
        for blk in self.blocks:
            x = blk(x)
            if return_trace:
                trace.append(x)
        logits = x[..., -1]
        return (logits, trace) if return_trace else logits


def pool_weight(threshold: float) -> float:
    """A pool synapse weight just above threshold, on the 1/64 grid: any input spike fires the output."""
    return (int(threshold * W_SCALE) + 1) / W_SCALE


def build_network(
    cfg, in_shape: tuple[int, int, int], n_classes: int, input_scale: float, role: str = "base"
) -> SpikingNet:
    """The base (compressible, 8-bit edges) or a twin/teacher (full precision everywhere) for a config."""
    from .arch import parse_arch, scale_arch

    specs = scale_arch(parse_arch(cfg.arch), cfg.width)
    neuron = NeuronSettings.from_config(cfg)
    is_base = role == "base"
    middle = cfg.weights if is_base and cfg.weights != "fp" else "fp"
    return SpikingNet(
        specs,
        in_shape,
        n_classes,
        neuron,
        input_scale,
        cfg.resolved_dropout,
        cfg.weight_scale,
        middle_mode=middle,
        delta=cfg.delta,
        edge_mode="int8" if is_base else "fp",
    )
