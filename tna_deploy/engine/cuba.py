"""CUBA fixed-point neuron dynamics: the one kernel behind the fast training engine and the emulator.

Both lava-dl SLAYER (CPU path, ``leaky_integrator._li_dynamics_fwd``) and Loihi 2 (Lava's
``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``) compute, per neuron and step, in integer state units
(a weight w on the 1/64 grid contributes ``64 * 64 * w = a_in << 6``):

    u[t] = rshift_to_zero(u[t-1] * (4096 - i_decay), 12) + a[t]
    v[t] = rshift_to_zero(v[t-1] * (4096 - v_decay), 12) + u[t] + bias
    s[t] = v[t] > threshold ;  v[t] = 0 where s[t]

What differs is a ``Flavor``:
  SLAYER  no 24-bit wrap of u, no clip of v; the current is handed from one integrator to the next as
          float32 (``u / 4096``) and the spike test is SLAYER's float32 ``v / 4096 >= theta + 0.01/4096``,
          so the kernel reproduces stock SLAYER on every input, not only where both agree with Loihi.
  LOIHI   u wraps at 24 bits exactly as Lava's model does (including its edge case at +2^23),
          v is clipped to +-(2^23 - 1), the spike test is the integer ``v > vth << 6``.
Lava's one step of latency per layer is not a neuron property: the emulator shifts the synaptic
input by one step before calling this kernel.

Tensors are time-major, ``(T, ...)``, so that every step is one contiguous slice. The state is kept
in float64 (exact for integers below 2^53; |u|, |v| stay far below that), which lets one code path
serve training on CPU and GPU as well as the emulator: the decay ``trunc(x * (d / 4096))`` is exact
because ``x * d`` is an exact float64 and dividing by 4096 only moves the exponent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

DECAY_UNITY = 4096  # 12-bit decays: 4096 means "forget everything each step"
STATE_SHIFT = 6  # Loihi MSB-aligns a_in and vth by 6 bits
U_MAX = 1 << 23  # 24-bit signed state
SLAYER_THRESHOLD_EPS = 0.01 / DECAY_UNITY  # lava-dl cuba.py: turns >= into Loihi's > on integers


@dataclass(frozen=True)
class Flavor:
    """What differs between SLAYER's fixed-point model and Loihi 2's."""

    name: str
    wrap_current: bool  # Loihi: u wraps modulo 2^24 (Lava's rule)
    clip_voltage: bool  # Loihi: v clipped to +-(2^23 - 1)
    slayer_float: bool  # SLAYER: float32 hand-over of u and float32 spike test


SLAYER = Flavor("slayer", wrap_current=False, clip_voltage=False, slayer_float=True)
LOIHI = Flavor("loihi", wrap_current=True, clip_voltage=True, slayer_float=False)


@dataclass
class CubaTrace:
    """Outputs of :func:`cuba_run`, each (T, ...). ``v_pre``: voltage before the spike reset."""

    spikes: torch.Tensor  # bool
    v_pre: Optional[torch.Tensor] = None  # state units, float64 (kept when keep_v_pre)
    u: Optional[torch.Tensor] = None  # state units, float64 (kept when record)
    v: Optional[torch.Tensor] = None  # after reset, as Lava's ``v`` Var holds it (record)


def decay(x: torch.Tensor, d: int) -> torch.Tensor:
    """``rshift_to_zero(x * (4096 - d), 12)`` on integer-valued float ``x``, in place; ``d`` in 0..4096."""
    keep = DECAY_UNITY - int(d)
    if keep == DECAY_UNITY:
        return x
    if keep == 0:
        return x.zero_()
    return x.mul_(keep / DECAY_UNITY).trunc_()


def wrap24(u: torch.Tensor) -> torch.Tensor:
    """Lava's 24-bit wrap of the current (``lif/models.py``): > 2^23 wraps down, <= -2^23 wraps up."""
    u = torch.where(u > U_MAX, u - 2 * U_MAX, u)
    return torch.where(u <= -U_MAX, u + 2 * U_MAX, u)


def slayer_spike_level(threshold_units: float) -> float:
    """The least integer voltage (state units) that SLAYER's float32 test ``v/4096 >= theta + eps`` fires.

    SLAYER compares ``float32(v) >= float32(theta + 0.01/4096) * 4096``. Float32 rounding is monotonic,
    so the firing voltages are exactly the integers from this level up: below 2^24 it is the ceiling
    of the float32 threshold (Loihi's ``v > theta``); above, float32 rounding can lower it."""
    th32 = (
        float(
            torch.tensor(threshold_units / DECAY_UNITY + SLAYER_THRESHOLD_EPS, dtype=torch.float32)
        )
        * DECAY_UNITY
    )
    level = float(math.ceil(th32))
    while level > 0 and float(torch.tensor(level - 1, dtype=torch.float32)) >= th32:
        level -= 1
    return level


def _odd_part(n: int) -> int:
    while n and n % 2 == 0:
        n //= 2
    return max(n, 1)


def _float32_exact(a: torch.Tensor, steps: int, i_decay: int, v_decay: int) -> bool:
    """True when float32 computes every step exactly: |u| <= T max|a| and |v| <= T^2 max|a| (decays
    are at most 1 and the reset only lowers |v|), and each decay product ``x * keep`` (exact up to
    the power of two in ``keep``) stays below 2^24."""
    odd = max(_odd_part(DECAY_UNITY - int(i_decay)), _odd_part(DECAY_UNITY - int(v_decay)))
    return float(a.abs().amax()) * steps * steps * odd < (1 << 24)


def cuba_run(
    a: torch.Tensor,
    i_decay: int,
    v_decay: int,
    threshold: Optional[float],
    flavor: Flavor = LOIHI,
    bias=0,
    record: bool = False,
    keep_v_pre: bool = False,
    v_pre_dtype: torch.dtype = torch.float64,
    v_pre_divisor: float = 1.0,
    in_scale: float = 1.0,
    spike_dtype: torch.dtype = torch.bool,
    v_pre_out: Optional[torch.Tensor] = None,
    spikes_out: Optional[torch.Tensor] = None,
) -> CubaTrace:
    """Run the dynamics over ``a * in_scale``: (T, ...) synaptic input, integer-valued in state units after
    truncation toward zero (SLAYER passes its float32 synaptic sums with ``in_scale = 4096``).

    ``threshold`` in state units (``vThMant << 6``; SLAYER: ``theta * 4096``), or None for a neuron
    that never spikes (a read-out). ``bias`` (state units, broadcast against one step) enters v every
    step. Returns spikes (``spike_dtype``: bool, or float32 0/1 for training), and when asked the voltage
    before reset (``v / v_pre_divisor`` in ``v_pre_dtype``; written into ``v_pre_out`` when given, which may
    be ``a`` itself: each value is read before it is overwritten; ``spikes_out`` likewise takes float32
    spikes) and the recorded u / v (float64). CPU tensors run the fused C++ build of this
    kernel when it is available (``cuba_ext``); anything else runs :func:`cuba_run_torch`."""
    from . import cuba_ext

    if (
        v_pre_out is not None
        and spikes_out is not None
        and v_pre_out.data_ptr() == spikes_out.data_ptr()
    ):
        raise ValueError("cuba_run: v_pre_out and spikes_out must be different buffers")
    fused = (
        cuba_ext.get()
        if a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64)
        else None
    )
    if (
        fused is None
        or v_pre_dtype not in (torch.float32, torch.float64)
        or spike_dtype not in (torch.bool, torch.float32)
    ):
        trace = cuba_run_torch(
            a,
            i_decay,
            v_decay,
            threshold,
            flavor,
            bias,
            record,
            keep_v_pre,
            v_pre_dtype,
            v_pre_divisor,
            in_scale,
        )
        trace.spikes = trace.spikes.to(spike_dtype)
        if spikes_out is not None and threshold is not None and spike_dtype == torch.float32:
            trace.spikes = spikes_out.copy_(trace.spikes)
        if keep_v_pre and v_pre_out is not None:
            trace.v_pre = v_pre_out.copy_(trace.v_pre)
        return trace
    shape = a.shape
    flat = a.reshape(shape[0], -1).contiguous()
    b = torch.empty(0)
    if not (isinstance(bias, (int, float)) and bias == 0):
        b = torch.as_tensor(bias, dtype=torch.float64).expand(shape[1:]).reshape(-1)
    fire_at = 0
    if threshold is not None:
        fire_at = (
            int(slayer_spike_level(threshold))
            if flavor.slayer_float
            else int(math.floor(threshold)) + 1
        )
    mode = 0 if not keep_v_pre else (1 if v_pre_dtype == torch.float32 else 2)
    buf = v_pre_out if (mode == 1 and v_pre_out is not None) else torch.empty(0)
    if buf.numel() and buf.data_ptr() == a.data_ptr():
        buf = flat  # the contiguous (T, M) view of a that the kernel reads
    sbuf = spikes_out if spikes_out is not None else torch.empty(0)
    if sbuf.numel() and sbuf.data_ptr() == a.data_ptr():
        sbuf = flat
    s, v_pre, u, v = fused.cuba_forward(
        flat,
        float(in_scale),
        int(i_decay),
        int(v_decay),
        threshold is not None,
        fire_at,
        b,
        flavor.wrap_current,
        flavor.clip_voltage,
        flavor.slayer_float,
        mode,
        float(v_pre_divisor),
        record,
        spike_dtype == torch.float32,
        buf,
        sbuf,
    )
    if mode == 2 and v_pre_divisor != 1.0:
        v_pre = v_pre.div_(v_pre_divisor)
    return CubaTrace(
        s.reshape(shape),
        v_pre.reshape(shape) if keep_v_pre else None,
        u.reshape(shape) if record else None,
        v.reshape(shape) if record else None,
    )


def cuba_run_torch(
    a: torch.Tensor,
    i_decay: int,
    v_decay: int,
    threshold: Optional[float],
    flavor: Flavor = LOIHI,
    bias=0,
    record: bool = False,
    keep_v_pre: bool = False,
    v_pre_dtype: torch.dtype = torch.float64,
    v_pre_divisor: float = 1.0,
    in_scale: float = 1.0,
    state: Optional[tuple] = None,
) -> CubaTrace:
    """The portable kernel: torch operations, one step at a time, on any device (see :func:`cuba_run`).

    The state is float32 when no value can reach 2^24 (exact), float64 otherwise. ``state``: the
    (u, v) to start from instead of rest (a recurrent layer runs step by step with it)."""
    if in_scale != 1.0:
        a = torch.mul(a, in_scale).trunc_()
    elif not a.is_floating_point():
        a = a.to(torch.float64)
    else:
        a = torch.trunc(a)
    steps = a.shape[0]
    has_bias = not (isinstance(bias, (int, float)) and bias == 0)
    small = (
        state is None
        and not has_bias
        and not flavor.wrap_current
        and not flavor.clip_voltage
        and a.dtype == torch.float32
        and _float32_exact(a, steps, i_decay, v_decay)
    )
    state_dtype = torch.float32 if small else torch.float64
    u = torch.zeros(a.shape[1:], dtype=state_dtype, device=a.device)
    v = torch.zeros_like(u)
    if state is not None:
        u.copy_(state[0])
        v.copy_(state[1])
    spikes = torch.zeros(a.shape, dtype=torch.bool, device=a.device)
    v_pre = torch.empty(a.shape, dtype=v_pre_dtype, device=a.device) if keep_v_pre else None
    us = torch.empty(a.shape, dtype=torch.float64, device=a.device) if record else None
    vs = torch.empty(a.shape, dtype=torch.float64, device=a.device) if record else None
    level = None
    if threshold is not None:
        level = slayer_spike_level(threshold) if flavor.slayer_float else float(threshold)
    # u == a[t] when the current forgets everything each step (current_decay = 1, the paper's LIF)
    u_is_input = int(i_decay) == DECAY_UNITY and not flavor.wrap_current
    # SLAYER hands u to the voltage integrator as float32: a no-op where u is a float32 input
    round_u = flavor.slayer_float and not (u_is_input and a.dtype == torch.float32) and not small
    lo, hi = -(U_MAX - 1), U_MAX - 1
    s = None
    for t in range(steps):
        if u_is_input:
            u = a[t]
        else:
            u = decay(u, i_decay).add_(a[t])
            if flavor.wrap_current:
                u = wrap24(u)
        decay(v, v_decay)
        v.add_(u.to(torch.float32) if round_u else u)
        if has_bias:
            v.add_(bias)
        if flavor.clip_voltage:
            v.clamp_(lo, hi)
        if keep_v_pre:
            v_pre[t].copy_(v)
        if level is not None:
            s = (
                torch.ge(v, level, out=spikes[t])
                if flavor.slayer_float
                else torch.gt(v, level, out=spikes[t])
            )
            v.masked_fill_(s, 0.0)
        if record:
            us[t].copy_(u)
            vs[t].copy_(v)
    if keep_v_pre and v_pre_divisor != 1.0:
        v_pre.div_(v_pre_divisor)
    return CubaTrace(spikes, v_pre, us, vs)
