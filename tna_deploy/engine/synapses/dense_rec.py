"""``dense_rec``: netx's ``RecurrentDense``, two Lava ``PyDenseModelBitAcc`` synapses into the same CUBA
neurons, one from the input and one from the layer's own spikes, sharing netx's joint weight
exponent (``dense_rec_weight_bits``). Each synapse hands its floored sum on one step later, so the
neurons at step t take ``input term[t] + (W_rec s[t-1] >> -weight_exp)``: the layer runs step by
step through the CUBA kernel (``cuba_run_torch`` from the previous step's state).

Lava's resets (``LIFReset``) zero u and v but not the recurrent synapse's buffer: the first step
after a reset still takes the spikes of the step before it. So samples in separate windows are not
independent here: the emulator runs them as the one stream Lava runs, the neurons reset at every
window's first step, and the last spikes carried from chunk to chunk."""

from __future__ import annotations

import numpy as np
import torch

from ...ir.layers import dense_rec_weight_bits
from .. import kinds_ext
from ..cuba import DECAY_UNITY, LOIHI, STATE_SHIFT, cuba_run_torch
from ..neurons import NeuronOut
from ..numeric import shift_left6_int32, stream, sum_dtype
from .base import Prepared, Synapse
from .dense_comp import dense_sum


class DenseRec(Synapse):
    recurrent = True

    @staticmethod
    def prepare(p: Prepared) -> None:
        ff, rec = dense_rec_weight_bits(p.layer.weight, p.layer.weight_rec)
        p.weight = torch.from_numpy(ff.weight.astype(np.float64))
        p.weight_exp = ff.weight_exp
        p.row_sum = float(np.abs(ff.weight).sum(1).max())
        w_rec = rec.weight.astype(np.float64)
        p.extra["rec"] = torch.from_numpy(w_rec)
        row_max = float(np.abs(w_rec).sum(1).max())
        p.extra["rec_max"] = row_max * 2.0**rec.weight_exp
        # the fused loop sums W_rec's mantissas in int32: exact while no row can reach 2^31
        p.extra["rec_t32"] = (
            torch.from_numpy(np.ascontiguousarray(w_rec.T).astype(np.int32))
            if row_max < 2.0**31
            else None
        )

    @staticmethod
    def run(emulator, i, p, prev, prev_max) -> tuple:
        t, k = prev.shape[:2]
        bound = prev_max * p.row_sum
        dtype = sum_dtype(bound)
        cache = p.extra.setdefault("events", {})
        a = dense_sum(prev.reshape(t, k, -1).to(dtype), p.weight, p.weight_exp, dtype, cache)
        return a, bound * 2.0**p.weight_exp

    @staticmethod
    def run_neurons(emulator, i, p, a, a_max, bias, record) -> NeuronOut:
        steps, k, n = a.shape
        flat = stream(a)  # (K*T, n): the samples' windows one after another, or one stream
        if emulator.stream is None:
            resets = range(0, len(flat), steps)
        elif emulator.stream.reset_interval is None:
            resets = range(0)
        else:
            resets = range(
                emulator.stream.first_reset(i), len(flat), emulator.stream.reset_interval
            )
        resets = set(resets)
        neuron, w_rec = p.layer.neuron, p.extra["rec"]
        bound = a_max + p.extra["rec_max"]
        wrap = bound * (1 << STATE_SHIFT) >= 2.0**31
        prior = emulator.tails.get(("rec", i))  # the spikes of the step before this chunk
        if emulator.stream is None and prior is None and _may_fire_early(emulator, i):
            raise ValueError(
                f"layer {p.layer.name}: a bias can make it fire before its first window, and Lava "
                f"carries that spike across the reset through the recurrent synapse: run the "
                f"input as one stream"
            )
        s = torch.zeros(n, dtype=torch.float64) if prior is None else prior
        flags = torch.zeros(len(flat), dtype=torch.uint8)
        flags[sorted(resets)] = 1
        bias = None if bias is None else bias.to(torch.float64).reshape(-1)
        if bias is not None and bias.numel() != n:
            raise ValueError(
                f"layer {p.layer.name}: a bias of {bias.numel()} values for {n} neurons"
            )
        lib, w_t32 = kinds_ext.get(), p.extra["rec_t32"]
        if lib is not None and w_t32 is not None:
            run, w = _steps_fused, w_t32
        else:
            run, w = _steps_torch, w_rec
        out, us, vs, s = run(flat, flags, w, p.weight_exp, bias, wrap, neuron, s, record)
        emulator.tails[("rec", i)] = s

        def back(x):
            return None if x is None else x.reshape(k, steps, n).transpose(0, 1)

        return NeuronOut(back(out).to(torch.float32), 1.0, False, back(us), back(vs))


def _steps_torch(flat, resets, w_rec, exp, bias, wrap, neuron, s, record) -> tuple:
    """The layer step by step in torch: ``flat`` (steps, n) feed-forward a_in, ``resets`` (steps) 1
    where the neurons start from rest, ``s`` the spikes of the step before; the spikes (float64),
    u and v (or None) and the last step's spikes."""
    state, resets = None, resets.tolist()
    out = torch.empty(flat.shape, dtype=torch.float64)
    us = torch.empty_like(out) if record else None
    vs = torch.empty_like(out) if record else None
    for t in range(len(flat)):
        a_t = flat[t] + torch.floor(torch.mv(w_rec, s) * 2.0**exp)
        a_t = shift_left6_int32(a_t) if wrap else a_t * float(1 << STATE_SHIFT)
        tr = cuba_run_torch(
            a_t.unsqueeze(0),
            neuron.current_decay,
            neuron.voltage_decay,
            float(neuron.threshold << STATE_SHIFT),
            LOIHI,
            bias=0 if bias is None else bias,
            record=True,
            state=None if resets[t] else state,
        )
        state = (tr.u[0], tr.v[0])
        s = tr.spikes[0].to(torch.float64)
        out[t] = s
        if record:
            us[t], vs[t] = state
    return out, us, vs, s


def _steps_fused(flat, resets, w_t, exp, bias, wrap, neuron, s, record) -> tuple:
    """:func:`_steps_torch` in one C++ pass (``csrc/dense_rec.cpp``): the same integers. ``w_t``: W_rec's
    mantissas transposed, int32 (every row's sum within int32)."""
    flat = flat.to(torch.float64).contiguous()
    s = s.to(torch.float64).clone().contiguous()
    out = torch.empty(flat.shape, dtype=torch.float32)
    us = torch.empty(flat.shape, dtype=torch.float64) if record else None
    vs = torch.empty(flat.shape, dtype=torch.float64) if record else None
    keep_u = (DECAY_UNITY - int(neuron.current_decay)) / DECAY_UNITY
    keep_v = (DECAY_UNITY - int(neuron.voltage_decay)) / DECAY_UNITY
    level = float(int(neuron.threshold) << STATE_SHIFT)
    ptr = kinds_ext.ptr
    kinds_ext.get().dense_rec_forward(
        ptr(flat), len(flat), flat.shape[1], ptr(w_t), 2.0**exp, ptr(resets.contiguous()),
        ptr(None if bias is None else bias.contiguous()), int(wrap), keep_u, keep_v,
        1, level, ptr(s), ptr(out), ptr(us), ptr(vs),
    )  # fmt: skip
    return out, us, vs, s


def _may_fire_early(emulator, i: int) -> bool:
    """Whether compute layer ``i`` could spike in the steps before its first window: only a bias
    (its own, or one of the layers before it, or a bias-driven input) moves a neuron at rest."""
    return emulator.drive == "bias" or any(
        q.layer.bias is not None and q.layer.bias.any() for q in emulator.layers[: i + 1]
    )
