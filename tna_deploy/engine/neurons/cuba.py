"""CUBA / LOIHI (``PyLifModelBitAcc``, ``PyLifResetModelBitAcc``) through the shared kernel
``engine.cuba`` (LOIHI flavor), with numpy's int32 wrap of ``a_in << 6``."""

from __future__ import annotations

import torch

from ..cuba import LOIHI, STATE_SHIFT, cuba_run
from ..numeric import shift_left6_int32
from .base import NeuronOut, NeuronRun


class Cuba(NeuronRun):
    @staticmethod
    def run(a, a_max, neuron, bias, record: bool, own: bool) -> NeuronOut:
        if a_max * 64 >= 2.0**31:  # a_in << 6 overflows int32 somewhere: wrap it as numpy does
            a, scale, own = shift_left6_int32(a.to(torch.float64)), 1.0, False
        else:
            scale = float(1 << STATE_SHIFT)
        own = own and a.dtype == torch.float32 and a.is_contiguous()
        trace = cuba_run(
            a,
            neuron.current_decay,
            neuron.voltage_decay,
            float(neuron.threshold << STATE_SHIFT),
            LOIHI,
            bias=0 if bias is None else bias,
            record=record,
            in_scale=scale,
            spike_dtype=torch.float32,
            spikes_out=a if own else None,
        )
        return NeuronOut(trace.spikes, 1.0, False, trace.u, trace.v)
