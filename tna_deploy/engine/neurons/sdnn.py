"""netx's SDNN neurons: Lava's ``PyDeltaModelFixed`` (input layer), ``PySigmaDeltaModelFixed`` (hidden)
and ``PySigmaModelFixed`` (``sigma_output``), over (T, K, ...) in int64 holding Lava's int32 values:
sigma and act for all steps at once (running sums), the threshold step by step. Lava's arithmetic is
numpy int32: sums wrap modulo 2^32 (so they are computed exactly and wrapped before anything that is
not a sum: abs, the threshold test, ReLU, the shift), ``np.abs`` of -2^31 stays negative, and
``np.right_shift`` floors. Per step, with e = spike_exp + state_exp:

  Delta       x = a_in << e;  delta = x - act + residue;  act = x
  SigmaDelta  sigma += a_in;  act' = relu(sigma + bias << e) (or unit);  delta = act' - act + residue;
              act = act'
  both        s = delta where |delta| >= vth << e (cum_error: where |error += delta| >= vth << e, then
              error = 0 where s != 0), else 0;  residue = delta - s;  sent: s >> state_exp
              (so residue = act - everything sent: delta = act - the running total of s)
  Sigma       sigma += a_in;  sent: sigma

The sent values are graded spikes (messageBits 0: the next synapse takes them as binary, so 0/1 are
sent). Recorded state: ``u`` the sigma (a Delta: its scaled input x), ``v`` the activation act (a
Sigma: its sigma); the read-out's logits are then v / 4096 as for every kind.

On CPU with the fused kinds built (``engine/kinds_ext``), :func:`_run_fused` computes the same in one
C++ pass per neuron over the steps (``csrc/sdnn.cpp``); the torch code here is its reference and the
portable path."""

from __future__ import annotations

import torch

from .. import kinds_ext
from .base import NeuronOut, NeuronRun

I32 = 1 << 31
F32_EXACT = 1 << 24  # |out| below this: float32 holds it exactly
FLOAT_IN = 1 << 51  # float inputs below this go to the kernel as they are
ROLES = {"delta": 0, "sigma_delta": 1, "sigma": 2}  # csrc/sdnn.cpp's role codes
IN_TYPES = {torch.int32: 1, torch.int64: 2, torch.float32: 3, torch.float64: 4}  # its input types


def _wrap(x: torch.Tensor) -> torch.Tensor:
    """int64 -> its int32 value (two's complement), kept as int64."""
    return x.to(torch.int32).to(torch.int64)


def _abs32(x: torch.Tensor) -> torch.Tensor:
    """numpy's int32 abs: -2^31 stays -2^31."""
    return torch.where(x == -I32, x, x.abs())


class SigmaDelta(NeuronRun):
    resets = False  # Lava's sigma-delta processes have no reset: the input runs as one stream
    bias_shift = 0  # the bias enters as bias << (spike_exp + state_exp), scaled here per neuron

    @staticmethod
    def run(a, a_max, neuron, bias, record: bool, own: bool) -> NeuronOut:
        if bias is not None and neuron.role != "sigma_delta":
            raise ValueError(
                f"a {neuron.role} neuron takes no bias (Lava's {neuron.role} process has none)"
            )
        if kinds_ext.get() is not None and a.device.type == "cpu" and a.numel():
            return _run_fused(a, a_max, neuron, bias, record)
        return _run_torch(a, a_max, neuron, bias, record)


def _threshold(neuron) -> tuple:
    """(vth, cum): Lava's vth = vThMant << e, and whether the error accumulates (never for a Sigma)."""
    vth = 0 if neuron.threshold is None else neuron.threshold << neuron.exp
    return vth, neuron.cum_error and neuron.role != "sigma"


def _run_torch(a, a_max, neuron, bias, record: bool) -> NeuronOut:
    """:meth:`SigmaDelta.run` in torch: sigma and act for all steps at once, the threshold step by
    step where it can hold a delta back; the int32 wraps only where a bound says a sum can need one."""
    role, e, steps = neuron.role, neuron.exp, a.shape[0]
    vth, cum = _threshold(neuron)
    a = a.to(torch.int64)
    if a_max >= I32:
        a = _wrap(a)
    b = 0 if bias is None else bias.to(torch.int64) * (1 << e)
    b_max = 0 if bias is None else int(b.abs().max())
    # wraps are needed only where a sum can leave int32 (a bound over the whole stream)
    act_max = min(a_max, I32) * ((1 << e) if role == "delta" else steps) + b_max
    exact = (2 * act_max + vth) * (steps if cum else 1) < I32
    wrap = (lambda x: x) if exact else _wrap
    if role == "delta":
        sigma = act = wrap(a * (1 << e))
    else:  # sigma += a_in, step by step: a running sum (wrapped once: sums are modular)
        sigma = _wrap(torch.cumsum(a, 0)) if not exact else torch.cumsum(a, 0)
        act = sigma if role == "sigma" else wrap(sigma + b)
        if role == "sigma_delta" and neuron.act_mode == "relu":
            act = act.clamp_min(0)
    if role == "sigma":
        out = sigma
    elif vth == 0 and exact and not cum:  # every delta is sent (|delta| >= 0): the change of act
        out = torch.diff(act, dim=0, prepend=torch.zeros_like(act[:1])) >> neuron.state_exp
    else:
        out = _delta(act, vth, cum, exact, wrap) >> neuron.state_exp
    graded = neuron.message_bits > 0
    if not graded:
        out = (out != 0).to(torch.int64)
    out_max = float(out.abs().max()) if out.numel() else 0.0
    out = out.to(torch.float32 if out_max < F32_EXACT else torch.float64)
    u = sigma.to(torch.float64) if record else None
    v = act.to(torch.float64) if record else None
    return NeuronOut(out, out_max, graded, u, v)


def _delta(act, vth: int, cum: bool, exact: bool, wrap) -> torch.Tensor:
    """Lava's delta encoding of ``act`` (T, ...), what it sends before the shift. The residue after
    step t is act_t minus everything sent so far, so delta_t = act_t - sent_total."""
    absolute = torch.abs if exact else _abs32
    total = torch.zeros_like(act[0])
    error = torch.zeros_like(act[0])
    outs = torch.empty_like(act)
    for t in range(act.shape[0]):
        delta = wrap(act[t] - total)
        if cum:
            error = wrap(error + delta)
            s = delta * (absolute(error) >= vth)
            error = error * (absolute(s) <= 0)
        else:
            s = delta * (absolute(delta) >= vth)
        total = wrap(total + s)
        outs[t] = s
    return outs


def _run_fused(a, a_max, neuron, bias, record: bool) -> NeuronOut:
    """:func:`_run_torch` in one C++ pass (``csrc/sdnn.cpp``): the same integers, with the int32 wraps
    always applied (the torch path leaves out those a bound proves idle). ``a`` on CPU; the kernel
    takes floats below 2^51 (``a_max``), wider ones as int64."""
    vth, cum = _threshold(neuron)
    a = a.contiguous()
    if a.dtype not in IN_TYPES or (a.is_floating_point() and a_max >= FLOAT_IN):
        a = a.to(torch.int64)
    e, steps, m = neuron.exp, a.shape[0], a[0].numel()
    b = None
    if bias is not None:
        b = torch.broadcast_to(bias.to(torch.int64) * (1 << e), a.shape[1:]).contiguous()
    graded = neuron.message_bits > 0
    u = torch.empty(a.shape, dtype=torch.float64) if record else None
    v = torch.empty(a.shape, dtype=torch.float64) if record else None
    out_max = torch.zeros(1, dtype=torch.int64)
    ptr = kinds_ext.ptr

    def call(out: torch.Tensor, u, v) -> torch.Tensor:
        kinds_ext.get().sdnn_forward(
            ptr(a),
            IN_TYPES[a.dtype],
            steps,
            m,
            ROLES[neuron.role],
            e,
            ptr(b),
            int(neuron.act_mode == "relu"),
            vth,
            int(cum),
            neuron.state_exp,
            int(graded),
            ptr(out),
            int(out.dtype == torch.float64),
            ptr(u),
            ptr(v),
            ptr(out_max),
            torch.get_num_threads(),
        )
        return out

    out = call(torch.empty(a.shape, dtype=torch.float32), u, v)
    if int(out_max) >= F32_EXACT:  # float32 cannot hold it: again into float64 (u, v are written)
        out = call(torch.empty(a.shape, dtype=torch.float64), None, None)
    return NeuronOut(out, float(out_max), graded, u, v)
