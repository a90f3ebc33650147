"""The fast training engine's CUBA backward, SLAYER's gradients: the exponential surrogate
``scale/2/tau * exp(-|v - theta| / tau)`` on the pre-reset voltage times the incoming gradient, then the
two leaky-integrator backward filters ``g[t] = (1 - d/4096) g[t+1] + g_out[t]`` (voltage, then current;
the identity where the decay is 4096), as lava-dl's ``_spike_backward`` and ``_li_dynamics_bwd`` compute.

Two implementations of the same arithmetic: :func:`backward_torch`, torch operations on any device (the
reference and the portable fallback), and the fused C++ loop of ``csrc/cuba_backward.cpp`` (one pass over
memory, time-major, parallel over neurons), which :func:`backward` picks for contiguous float32 CPU
tensors when the build is available. They agree to float32 rounding (tested): exp differs by an ulp or
two, and the torch filter's ``add_(alpha=d)`` may fuse its multiply-add where the C++ rounds twice as
SLAYER does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .cuba import DECAY_UNITY


def slayer_factor(decay_int: int) -> float:
    """SLAYER's float32 filter factor ``1 - decay / 4096`` (0 where the decay is 4096)."""
    return float(torch.tensor(1.0) - torch.tensor(float(decay_int)) / DECAY_UNITY)


@dataclass(frozen=True)
class Surrogate:
    """The float32 constants of SLAYER's surrogate: threshold (+ eps), tau and scale (lava-dl's multipliers
    applied)."""

    theta: float
    tau: float
    scale: float

    def factor(self) -> float:
        """``scale / 2 / tau`` as SLAYER computes it, in float32."""
        f32 = torch.float32
        return float(torch.tensor(self.scale, dtype=f32) / 2 / torch.tensor(self.tau, dtype=f32))


def li_backward_torch(grad: torch.Tensor, decay_int: int) -> torch.Tensor:
    """SLAYER's ``_li_dynamics_bwd`` on time-major ``grad`` (T, ...), in place."""
    d = slayer_factor(decay_int)
    if d == 0.0:
        return grad
    for t in range(grad.shape[0] - 2, -1, -1):
        grad[t].add_(grad[t + 1], alpha=d)
    return grad


def backward_torch(
    voltage: Optional[torch.Tensor],
    grad: torch.Tensor,
    surrogate: Optional[Surrogate],
    i_decay: int,
    v_decay: int,
) -> torch.Tensor:
    """The gradient of the synaptic input, (T, ...). ``voltage`` (SLAYER's float32, time-major) is
    overwritten; without a surrogate (a read-out) ``grad`` is filtered in a copy."""
    if surrogate is None:
        g = grad.clone()
    else:
        dev, dt = voltage.device, voltage.dtype
        theta = torch.tensor(surrogate.theta, dtype=dt, device=dev)
        tau = torch.tensor(surrogate.tau, dtype=dt, device=dev)
        scale = torch.tensor(surrogate.scale, dtype=dt, device=dev)
        # scale/2/tau * exp(-|v - theta| / tau), the factor folded into the exponent (one pass fewer)
        g = (
            voltage.sub_(theta)
            .abs_()
            .mul_(-1.0 / float(tau))
            .add_(math.log(float(scale / 2 / tau)))
            .exp_()
        )
        g.mul_(grad)
    return li_backward_torch(li_backward_torch(g, v_decay), i_decay)


def backward(
    voltage: Optional[torch.Tensor],
    grad: torch.Tensor,
    surrogate: Optional[Surrogate],
    i_decay: int,
    v_decay: int,
) -> torch.Tensor:
    """:func:`backward_torch`'s result, from the fused C++ loop where it applies (contiguous float32 CPU
    tensors, the build available), else from :func:`backward_torch`. ``voltage`` is overwritten either way."""
    from . import cuba_ext

    fused = None
    if grad.device.type == "cpu" and grad.dtype == torch.float32:
        if surrogate is None or (voltage.dtype == torch.float32 and voltage.is_contiguous()):
            fused = cuba_ext.get()
    if fused is None or not hasattr(fused, "cuba_backward"):
        return backward_torch(voltage, grad, surrogate, i_decay, v_decay)
    steps = grad.shape[0]
    g = grad.contiguous().reshape(steps, -1)
    if surrogate is None:
        out = torch.empty_like(g)
        v = torch.empty(0)
        theta = tau = k = 0.0
    else:
        v = voltage.reshape(steps, -1)
        out = v  # written over the voltage, as the torch version does
        theta, tau, k = surrogate.theta, surrogate.tau, surrogate.factor()
    fused.cuba_backward(v, g, out, theta, tau, k, slayer_factor(v_decay), slayer_factor(i_decay))
    return out.reshape(grad.shape)
