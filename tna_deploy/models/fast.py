"""The fast engine: the same SLAYER CUBA blocks, computed without SLAYER's per-block overheads.

What stays SLAYER's: the blocks, their parameters and state_dict, their ``pre_hook_fx`` quantizers,
dropout masks (drawn exactly as ``slayer.neuron.Dropout`` draws them), ``export_hdf5``. What changes is
how a block's forward and backward are computed:

* Activations live time-major and folded, ``(T*N, C, H, W)``, from the first block to the read-out.
  A SLAYER conv is a conv3d with kernel depth 1 over (N, C, H, W, T); here it is one conv2d over
  T*N images (a dense block is one matmul), and no block transposes time to the end and back.
* The neuron is :func:`tna_deploy.engine.cuba.cuba_run` with the SLAYER flavor: the same integers as
  SLAYER's ``_li_dynamics_fwd`` (int64) and its float32 spike test, so spikes and logits are
  bit-identical to stock SLAYER whenever the synaptic sums are (always for weights on the 1/64 grid).
* The backward is SLAYER's own, written once per block instead of per op
  (:mod:`tna_deploy.engine.cuba_backward`): the exponential surrogate ``scale/2/tau * exp(-|v - theta| /
  tau)`` on the pre-reset voltage, then the two leaky-integrator backward filters
  ``g[t] = (1 - d/4096) g[t+1] + g_out[t]`` (skipped when the decay is 4096, where the filter is the
  identity), as ``_li_dynamics_bwd`` computes them; on CPU one fused C++ pass over memory.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..engine import cuba_backward
from ..engine.cuba import DECAY_UNITY, SLAYER, cuba_run
from ..engine.cuba_backward import Surrogate
from . import fast_input_conv, fast_pool, fast_spike_conv

TAU_RHO_MULT = 100  # lava-dl neuron/cuba.py: the spike call scales tau_rho and scale_rho by these
SCALE_RHO_MULT = 0.1


class NeuronConsts:
    """The integers and surrogate constants of one SLAYER CUBA neuron, read once per forward."""

    def __init__(self, neuron, spiking: bool):
        self.i_decay = int(_quantized(neuron.current_decay))
        self.v_decay = int(_quantized(neuron.voltage_decay))
        self.spiking = spiking
        if spiking:
            self.threshold_units = float(neuron.threshold) * DECAY_UNITY
            self.theta = float(neuron.threshold + neuron.threshold_eps)
            self.tau = float(neuron.tau_rho * TAU_RHO_MULT)
            self.scale = float(neuron.scale_rho * SCALE_RHO_MULT)


def _quantized(decay: torch.Tensor) -> float:
    """SLAYER's ``quantize(decay)`` (round to an integer), clamped to 0..4096 as ``Neuron.clamp`` does."""
    value = float(torch.round(decay.detach().flatten()[0]))
    return min(max(value, 0.0), float(DECAY_UNITY))


def supports(net) -> bool:
    """The fast engine computes one decay per layer (``shared_param=True``, what tna-deploy builds);
    a network with per-neuron decays runs on SLAYER's own forward instead."""
    return all(
        blk.neuron.current_decay.numel() == 1 and blk.neuron.voltage_decay.numel() == 1
        for info, blk in zip(net.info, net.blocks)
        if info.kind != "flatten"
    )


class _CubaSpike(torch.autograd.Function):
    """Synaptic input z (T, ...) float32 -> spikes (T, ...) float32, with SLAYER's gradients."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, c: NeuronConsts) -> torch.Tensor:
        # SLAYER: u gets (4096 * z).to(int64); its float32 voltage is float32(v) / 4096. z has no other
        # reader (the synapse keeps its input, not its output), so the voltage is written over it.
        out = z if z.is_contiguous() else None
        trace = cuba_run(
            z,
            c.i_decay,
            c.v_decay,
            c.threshold_units,
            SLAYER,
            keep_v_pre=True,
            v_pre_dtype=torch.float32,
            v_pre_divisor=DECAY_UNITY,
            in_scale=DECAY_UNITY,
            spike_dtype=z.dtype,
            v_pre_out=out,
        )
        ctx.save_for_backward(trace.v_pre)
        ctx.c = c
        ctx.used = False
        return trace.spikes

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        (voltage,) = ctx.saved_tensors
        if ctx.used:  # the surrogate is computed over the saved voltage, in place
            raise RuntimeError("the fast engine's backward runs once per forward (no retain_graph)")
        ctx.used = True
        c = ctx.c
        surrogate = Surrogate(c.theta, c.tau, c.scale)
        return cuba_backward.backward(voltage, grad_spikes, surrogate, c.i_decay, c.v_decay), None


class _CubaVoltage(torch.autograd.Function):
    """Read-out: synaptic input z (T, ...) -> voltage (T, ...) float32, never spiking (SLAYER Affine)."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, c: NeuronConsts) -> torch.Tensor:
        trace = cuba_run(
            z,
            c.i_decay,
            c.v_decay,
            None,
            SLAYER,
            keep_v_pre=True,
            v_pre_dtype=torch.float32,
            v_pre_divisor=DECAY_UNITY,
            in_scale=DECAY_UNITY,
        )
        ctx.c = c
        return trace.v_pre

    @staticmethod
    def backward(ctx, grad_v: torch.Tensor):
        c = ctx.c
        return cuba_backward.backward(None, grad_v, None, c.i_decay, c.v_decay), None


def _weight(synapse) -> torch.Tensor:
    w = synapse.weight
    fx = synapse.pre_hook_fx
    return fx(w) if fx is not None else w


def _dropout_mask(drop, n: int, features: int, like: torch.Tensor) -> Optional[torch.Tensor]:
    """The mask ``slayer.neuron.Dropout`` would draw for (n, features) neurons: same RNG use, same values."""
    if drop is None or not drop.training or drop.p == 0:
        return None
    ones = torch.ones((n, features, 1, 1, 1), dtype=like.dtype, device=like.device)
    return F.dropout3d(ones, drop.p, True, False).reshape(1, n, features)


def _spiking(blk, z: torch.Tensor, steps: int) -> torch.Tensor:
    """Neuron of a spiking block on folded z (T*N, ...) -> folded spikes, with the block's dropout."""
    n = z.shape[0] // steps
    shape = z.shape[1:]
    if blk.neuron.shape is None:  # SLAYER learns it on the first forward; export reads it
        blk.neuron.shape = shape
    if z.ndim == 4 and z.is_contiguous(memory_format=torch.channels_last) and not z.is_contiguous():
        # the neuron is element-wise: run it on the NHWC storage as it is, and hand back the same layout
        zl = z.permute(0, 2, 3, 1)
        s = _CubaSpike.apply(zl.reshape(steps, n, *zl.shape[1:]), NeuronConsts(blk.neuron, True))
        s = s.reshape(zl.shape).permute(0, 3, 1, 2)
    else:
        s = _CubaSpike.apply(z.reshape(steps, n, *shape), NeuronConsts(blk.neuron, True)).reshape(
            z.shape
        )
    mask = _dropout_mask(blk.neuron.drop, n, int(shape.numel()), s)
    if mask is not None:  # drawn over SLAYER's (C, H, W) order, applied whatever the memory layout
        s = (s.reshape(steps, n, *shape) * mask.reshape(1, n, *shape)).reshape(s.shape)
    return s


def _to_slayer_layout(h: torch.Tensor, steps: int) -> torch.Tensor:
    """Folded (T*N, ...) -> SLAYER's (N, ..., T)."""
    x = h.reshape(steps, h.shape[0] // steps, *h.shape[1:])
    return x.permute(*range(1, x.ndim), 0)


def fast_forward(net, x: torch.Tensor, return_trace: bool = False):
    """``SpikingNet.forward`` on the fast engine: ``x`` (N, C, H, W, T) -> logits (N, classes) [, trace].

    The trace holds every block's output in SLAYER's layout (N, ..., T), as stock SLAYER returns it."""
    steps = x.shape[-1]
    h = x.permute(x.ndim - 1, *range(x.ndim - 1)).reshape(steps * x.shape[0], *x.shape[1:-1])
    if h.ndim == 4 and h.device.type == "cpu":  # oneDNN convolves channels-last images fastest
        h = h.contiguous(memory_format=torch.channels_last)
    trace = []
    spikes = False  # whether h is a spiking layer's output (not the network's input)
    for info, blk in zip(net.info, net.blocks):
        if info.kind == "flatten":
            if blk.shape is None:  # as SLAYER's Flatten learns it (export reads it)
                blk.shape = [int(h[0].numel()), 1, 1]
            h = h.reshape(h.shape[0], -1)
        elif info.kind in ("conv", "pool"):
            syn = blk.synapse
            w = _weight(syn)[..., 0]
            if fast_input_conv.applies(
                h, syn
            ):  # the first conv: only its weight gradient is wanted
                z = fast_input_conv.conv(h, w, syn)
            elif fast_pool.applies(h, syn):  # a pool: only its input gradient is wanted
                z = fast_pool.conv(h, w, syn)
            elif fast_spike_conv.applies(h, syn, spikes):  # work over the nonzero inputs only
                z = fast_spike_conv.conv(h, w, syn)
            else:
                if h.is_contiguous(memory_format=torch.channels_last):
                    w = w.contiguous(memory_format=torch.channels_last)
                z = F.conv2d(
                    h, w, None, syn.stride[:2], syn.padding[:2], syn.dilation[:2], syn.groups
                )
                if z.device.type == "cpu":  # one-channel inputs leave oneDNN free to answer in NCHW
                    z = z.contiguous(memory_format=torch.channels_last)
            h = _spiking(blk, z, steps)
            spikes = True
        elif info.kind == "dense":
            w = _weight(blk.synapse).reshape(blk.synapse.out_channels, -1)
            h = _spiking(blk, F.linear(h, w), steps)
            spikes = True
        else:  # output: SLAYER Affine, the voltage is the block's output
            w = _weight(blk.synapse).reshape(blk.synapse.out_channels, -1)
            z = F.linear(h, w)
            n = z.shape[0] // steps
            v = _CubaVoltage.apply(z.reshape(steps, n, -1), NeuronConsts(blk.neuron, False))
            h = v.reshape(steps * n, -1)
        if return_trace:
            trace.append(_to_slayer_layout(h, steps))
    logits = h.reshape(steps, -1, h.shape[-1])[-1]
    return (logits, trace) if return_trace else logits
