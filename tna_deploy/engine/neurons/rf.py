"""Resonate-and-fire neurons: Lava's ``PyRFModelFixed`` (RF) and ``PyRF_IZModelFixed`` (RF_IZ), one
kernel for both, vectorized over every neuron of every sample, one step at a time, in int64.

Per step, with Lava's integer decays ``(s, c) = lava_decays(sinDecay, cosDecay)`` and
``shr(x) = sign(x) * (|x| >> 12)``:

    re' = clip(shr(c * re) - shr(s * im) + (a_re << 6))      clip: +-(2^23 - 1)
    im' = clip(shr(s * re) + shr(c * im) + (a_im << 6))
    RF     spike = re' >= vth & im' >= 0 & im < 0            (the phase crosses zero), no reset
    RF_IZ  spike = im' >= vth ; re' = 0 and im' = vth - 1 where it spiked

``vth = vThMant << 6``. The ports are typed int16, but Lava adds what arrives to int16 zeros, which
numpy widens to the sender's int32: nothing is truncated (checked against Lava in the tests); the
shift by 6 is int32's and wraps as numpy's does. No bias (netx gives a resonator none) and no
reset (netx ignores ``reset_interval`` for resonators). Recorded: u = the real part, v = the
imaginary part."""

from __future__ import annotations

import torch

from ...ir.neurons.rf import STATE_EXP, lava_decays
from .. import kinds_ext
from ..numeric import shift_left6_int32
from .base import NeuronOut, NeuronRun

LIMIT = (1 << 23) - 1  # Lava: the 24-bit real / imaginary parts are clipped to +-(2^23 - 1)


def _shr12(x: torch.Tensor) -> torch.Tensor:
    """``np.sign(x) * np.right_shift(np.abs(x), 12)`` on int64."""
    return torch.sign(x) * (torch.abs(x) >> 12)


def _scaled(a: torch.Tensor, a_max: float) -> torch.Tensor:
    """``np.left_shift(a, 6)`` on int32, as int64."""
    if a_max * (1 << STATE_EXP) >= 2.0**31:
        return shift_left6_int32(a.to(torch.float64)).to(torch.int64)
    return a.to(torch.int64) << STATE_EXP


class RF(NeuronRun):
    resets = False
    bias_shift = STATE_EXP

    @staticmethod
    def run(a, a_max, neuron, bias, record: bool, own: bool) -> NeuronOut:
        if not isinstance(a, tuple):
            raise ValueError(f"a {neuron.kind} neuron takes a complex synapse's (real, imag)")
        if bias is not None:
            raise ValueError(f"a {neuron.kind} neuron has no bias (netx gives it none)")
        a_re, a_im = (_scaled(x, a_max) for x in a)
        s_dec, c_dec = lava_decays(neuron.sin_decay, neuron.cos_decay)
        vth = int(neuron.threshold) << STATE_EXP
        run = _steps_fused if kinds_ext.get() is not None and a_re.device.type == "cpu" else _steps
        out, res, ims = run(a_re, a_im, s_dec, c_dec, vth, bool(neuron.phase), record)
        return NeuronOut(out, 1.0, False, res, ims)


def _steps(a_re, a_im, s_dec: int, c_dec: int, vth: int, phase: bool, record: bool) -> tuple:
    """The neurons step by step in torch over ``a_re``, ``a_im`` (T, ...) int64 (already << 6): the
    spikes (float32) and, when asked, the real and imaginary parts (float64)."""
    re = torch.zeros(a_re.shape[1:], dtype=torch.int64)
    im = torch.zeros_like(re)
    out = torch.empty(a_re.shape, dtype=torch.float32)
    res = torch.empty(a_re.shape, dtype=torch.float64) if record else None
    ims = torch.empty(a_re.shape, dtype=torch.float64) if record else None
    for t in range(a_re.shape[0]):
        new_re = (_shr12(c_dec * re) - _shr12(s_dec * im) + a_re[t]).clamp_(-LIMIT, LIMIT)
        new_im = (_shr12(s_dec * re) + _shr12(c_dec * im) + a_im[t]).clamp_(-LIMIT, LIMIT)
        if phase:
            spike = (new_re >= vth) & (new_im >= 0) & (im < 0)
        else:
            spike = new_im >= vth
            new_re = torch.where(spike, torch.zeros_like(new_re), new_re)
            new_im = torch.where(spike, torch.full_like(new_im, vth - 1), new_im)
        re, im = new_re, new_im
        out[t] = spike
        if record:
            res[t] = re
            ims[t] = im
    return out, res, ims


def _steps_fused(a_re, a_im, s_dec: int, c_dec: int, vth: int, phase: bool, record: bool) -> tuple:
    """:func:`_steps` in one C++ pass (``csrc/rf.cpp``): the same integers."""
    a_re, a_im = a_re.contiguous(), a_im.contiguous()
    steps, m = a_re.shape[0], a_re[0].numel()
    out = torch.empty(a_re.shape, dtype=torch.float32)
    res = torch.empty(a_re.shape, dtype=torch.float64) if record else None
    ims = torch.empty(a_re.shape, dtype=torch.float64) if record else None
    ptr = kinds_ext.ptr
    kinds_ext.get().rf_forward(
        ptr(a_re), ptr(a_im), steps, m, s_dec, c_dec, vth, int(phase), ptr(out), ptr(res), ptr(ims)
    )
    return out, res, ims
