"""A vectorized, bit-exact emulator of Lava's fixed-point Loihi 2 models, run on a ``DeployedNet``.

Per layer it computes what netx instantiates in Lava with ``Loihi2SimCfg(select_tag='fixed_pt')``:
  conv   ``PyConvModelFixed``: raw integer weights (torch's cross-correlation equals Lava's flipped
         scipy convolution), the sum wrapped to 24 bits (``signed_clamp``).
  dense  ``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc``: netx's ``optimize_weight_bits``, the
         8-bit clip and truncation to ``num_weight_bits``, then ``>> -weight_exp`` (flooring), one
         term per delay value.
  input  with a neuron: the sample goes straight into its ``a_in``.
  neuron ``PyLifResetModelBitAcc`` through the shared kernel ``tna_deploy.engine.cuba`` (LOIHI flavor);
         ``a_in << 6`` wraps in int32 as numpy does.
The first synapse takes graded input values when the file's input has message bits, else ``!= 0``.

Timing. Samples run back to back, one every T steps, as ``simulate --backend lava`` runs them
(``reset_interval=T``). Every Lava layer adds one step of latency, and netx resets layer i exactly
when sample k's first input reaches it, so layer i holds sample k in steps ``[kT+i+c, kT+i+c+T)``
(0-based, c = 1 without an input neuron, 0 with one): its window. Shifting each layer's synaptic
input by that one step is therefore the same as computing every layer in its window's own time
frame, which is what this emulator does: window-aligned rasters (K, ..., T), equal to Lava's sink
at ``stream_step``. Windows of different samples are independent (each starts from rest), so all
samples of a chunk run at once, except through dense delays: a delayed spike crosses into the next
sample's window, exactly as in Lava's stream, and the tail is carried from chunk to chunk.

Arithmetic. conv / matmul run in torch float32 when the largest possible sum (max input times the
largest row sum of |w|) stays below 2^24, so every partial sum is an exact integer, else float64
(float64 is 6x slower here: benchmarks/results/emulator_speed.json); convs run channels-last (about
twice as fast on CPU), and so does the neuron after them, which is elementwise. The neuron state is
float64 (exact integers).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..ir import DeployedNet, Layer
from .cuba import LOIHI, STATE_SHIFT, cuba_run
from .numeric import shift_left6_int32, sum_dtype
from .synapses import SYNAPSES, Prepared
from .trace import Trace

A_IN_WIDE = 1 << 25  # |a_in| from here on, a_in << 6 overflows int32


def stream_step(layer: int, sample: int, timesteps: int, input_neuron: bool) -> int:
    """The 0-based Lava step (sink column) where ``sample``'s window in compute layer ``layer`` starts."""
    return sample * timesteps + layer + (0 if input_neuron else 1)


class Emulator:
    """Runs chunks of samples through ``net``; call :meth:`run` repeatedly for consecutive chunks."""

    def __init__(self, net: DeployedNet):
        self.net = net
        self.layers = [self._prepare(layer) for layer in net.compute_layers]
        self.max_delay = max(
            (max(d for d, _ in p.delays) for p in self.layers if p.delays), default=0
        )
        self.tails: dict = {}  # dense layer -> its input stream's last max_delay steps

    @staticmethod
    def _prepare(layer: Layer) -> Prepared:
        p = Prepared(layer)
        kind = SYNAPSES[layer.kind]
        kind.prepare(p)
        b = layer.bias_per_neuron()
        if b is not None:
            if kind.channels_last:  # such layers run channels-last: (H, W, C)
                b = b.transpose(1, 2, 0)
            p.bias = torch.from_numpy(
                np.ascontiguousarray(b).astype(np.float64) * (1 << STATE_SHIFT)
            )
        return p

    def reset(self) -> None:
        """Forget the previous chunk (only dense delays carry anything across samples)."""
        self.tails = {}

    def run(self, x, record: tuple = ("spikes",)) -> Trace:
        """``x``: (K, *input_shape, T) integers, the inputs of K consecutive samples."""
        x = np.asarray(x)
        fast = _spike_path_trace(self, x, record)
        if fast is not None:
            return fast
        k = x.shape[0]
        prev_max = float(np.abs(x).max()) if x.size else 0.0  # bounds every sum of the next layer
        prev = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 0)))  # (T, K, ...)
        if not self.net.input_neuron and self.net.input_bits == 0:
            prev, prev_max = (prev != 0), min(prev_max, 1.0)
        prev = prev.to(sum_dtype(prev_max))
        keep_state = "current" in record or "voltage" in record
        spikes, currents, voltages, logits = [], [], [], None
        last = len(self.layers) - 1
        for i, p in enumerate(self.layers):
            kind = SYNAPSES[p.layer.kind]
            a, a_max = kind.run(self, i, p, prev, prev_max)
            if a_max * 64 >= 2.0**31:  # a_in << 6 overflows int32 somewhere: wrap it as numpy does
                a, scale = shift_left6_int32(a.to(torch.float64)), 1.0
            else:
                scale = float(1 << STATE_SHIFT)
            n = p.layer.neuron
            # a is this layer's own fresh buffer (never the caller's input): the spikes are written over it
            own = p.layer.kind != "input" and a.dtype == torch.float32 and a.is_contiguous()
            trace = cuba_run(
                a,
                n.current_decay,
                n.voltage_decay,
                float(n.threshold << STATE_SHIFT),
                LOIHI,
                bias=p.bias,
                record=keep_state or i == last,
                in_scale=scale,
                spike_dtype=torch.float32,
                spikes_out=a if own else None,
            )
            view = _from_channels_last if kind.channels_last else (lambda v: v)
            s = view(trace.spikes)
            spikes.append(_to_batch_major(s).to(torch.uint8).contiguous().numpy())
            if keep_state:
                currents.append(_to_batch_major(view(trace.u)).to(torch.int32).numpy())
                voltages.append(_to_batch_major(view(trace.v)).to(torch.int32).numpy())
            if i == last:
                logits = (view(trace.v)[-1].reshape(k, -1) / float(1 << (2 * STATE_SHIFT))).numpy()
            prev, prev_max = s, 1.0
        return Trace(
            spikes,
            logits.astype(np.float64),
            currents if keep_state else None,
            voltages if keep_state else None,
        )


def _spike_path_trace(emulator: Emulator, x: np.ndarray, record: tuple) -> Optional[Trace]:
    """The fused C++ path's trace (the same integers), or None where it does not apply."""
    from . import spike_path

    path = spike_path.plan(emulator, record)
    return path.run(x) if path is not None else None


def _from_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(T, K, H, W, C) -> a (T, K, C, H, W) view (no copy: the next conv reads it channels-last)."""
    return x.permute(0, 1, 4, 2, 3)


def _to_batch_major(x: torch.Tensor) -> torch.Tensor:
    """(T, K, ...) -> (K, ..., T)."""
    return x.permute(*range(1, x.ndim), 0)


STATE_BYTES = (
    24  # per neuron and step in a chunk: u, v and the synaptic input (int32/float), spikes
)
RECORD_BYTES = 48  # the same when current and voltage are also kept


def bytes_per_sample(net: DeployedNet, timesteps: int, record: bool = False) -> int:
    """Memory one sample takes in the emulator (every compute layer's state at every step)."""
    neurons = sum(layer.neurons for layer in net.compute_layers)
    return neurons * int(timesteps) * (RECORD_BYTES if record else STATE_BYTES)


def largest_layer(net: DeployedNet) -> str:
    layer = max(net.compute_layers, key=lambda lay: lay.neurons)
    return f"layer {layer.name} holds {layer.neurons:,} neurons of {layer.out_shape}"
