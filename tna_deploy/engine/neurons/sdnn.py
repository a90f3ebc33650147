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
Sigma: its sigma); the read-out's logits are then v / 4096 as for every kind."""

from __future__ import annotations

import torch

from .base import NeuronOut, NeuronRun

I32 = 1 << 31


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
        role, e, steps = neuron.role, neuron.exp, a.shape[0]
        if bias is not None and role != "sigma_delta":
            raise ValueError(f"a {role} neuron takes no bias (Lava's {role} process has none)")
        a = a.to(torch.int64)
        if a_max >= I32:
            a = _wrap(a)
        b = 0 if bias is None else bias.to(torch.int64) * (1 << e)
        b_max = 0 if bias is None else int(b.abs().max())
        # wraps are needed only where a sum can leave int32 (a bound over the whole stream)
        act_max = min(a_max, I32) * ((1 << e) if role == "delta" else steps) + b_max
        vth = 0 if neuron.threshold is None else neuron.threshold << e
        cum = neuron.cum_error and role != "sigma"
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
        elif (
            vth == 0 and exact and not cum
        ):  # every delta is sent (|delta| >= 0): the change of act
            out = torch.diff(act, dim=0, prepend=torch.zeros_like(act[:1])) >> neuron.state_exp
        else:
            out = _delta(act, vth, cum, exact, wrap) >> neuron.state_exp
        graded = neuron.message_bits > 0
        if not graded:
            out = (out != 0).to(torch.int64)
        out_max = float(out.abs().max()) if out.numel() else 0.0
        out = out.to(torch.float32 if out_max < (1 << 24) else torch.float64)
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
