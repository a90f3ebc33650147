"""A vectorized, bit-exact emulator of Lava's fixed-point Loihi 2 models, run on a ``DeployedNet``.

Per layer it computes what netx instantiates in Lava with ``Loihi2SimCfg(select_tag='fixed_pt')``:
  conv   ``PyConvModelFixed``: raw integer weights (torch's cross-correlation equals Lava's flipped
         scipy convolution), the sum wrapped to 24 bits (``signed_clamp``).
  dense  ``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc``: netx's ``optimize_weight_bits``, the
         8-bit clip and truncation to ``num_weight_bits``, then ``>> -weight_exp`` (flooring), one
         term per delay value.
  dense_comp  netx's ``ComplexDense``: two dense synapses, (real, imag) into a resonator neuron.
  dense_rec   netx's ``RecurrentDense``: the layer's own spikes back through a second dense synapse
         (joint weight bits), run step by step (``synapses/dense_rec.py``; in C++ where built).
  pool, unpool, convT  in windows with CUBA neurons and only spikes recorded: synapse and neurons in
         one C++ pass over the nonzero inputs (``synapses/scatter.py``), else torch as conv is run.
  input  with a neuron: the sample goes straight into its ``a_in``.
  neuron ``PyLifResetModelBitAcc`` through the shared kernel ``tna_deploy.engine.cuba`` (LOIHI flavor);
         ``a_in << 6`` wraps in int32 as numpy does. Other kinds by the IR neuron's family
         (``neurons/``: resonate-and-fire, RF and RF_IZ).
The first synapse takes graded input values when the file's input has message bits, else ``!= 0``.

Timing. Samples run back to back, one every T steps, as ``simulate --backend lava`` runs them
(``reset_interval=T``). Every Lava layer adds one step of latency, and netx resets layer i exactly
when sample k's first input reaches it, so layer i holds sample k in steps ``[kT+i+c, kT+i+c+T)``
(0-based, c = 1 without an input neuron, 0 with one): its window. Shifting each layer's synaptic
input by that one step is therefore the same as computing every layer in its window's own time
frame, which is what this emulator does: window-aligned rasters (K, ..., T), equal to Lava's sink
at ``stream_step``. Windows of different samples are independent (each starts from rest), so all
samples of a chunk run at once, except through dense delays: a delayed spike crosses into the next
sample's window, exactly as in Lava's stream, and the tail is carried from chunk to chunk (so does a
dense_rec layer's last spikes: Lava's reset leaves its recurrent synapse's buffer alone).
A ``Stream`` runs each input as its own stream; streams never share state, so they run K at a time as
well, except where a delay or a recurrent layer ties the K inputs of a call into one time line (then one
by one).

Arithmetic. conv / matmul run in torch float32 when the largest possible sum (max input times the
largest row sum of |w|) stays below 2^24, so every partial sum is an exact integer, else float64
(float64 is 6x slower here: benchmarks/results/emulator_speed.json); convs run channels-last (about
twice as fast on CPU), and so does the neuron after them, which is elementwise. The neuron state is
float64 (exact integers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..ir import DeployedNet, Layer
from .neurons import NEURON_RUNS, NeuronOut
from .numeric import sum_dtype
from .rasters import batch_major
from .synapses import SYNAPSES, Prepared, scatter
from .trace import Trace


def stream_step(layer: int, sample: int, timesteps: int, input_neuron: bool) -> int:
    """The 0-based Lava step (sink column) where ``sample``'s window in compute layer ``layer`` starts."""
    return sample * timesteps + layer + (0 if input_neuron else 1)


@dataclass(frozen=True)
class Stream:
    """Run each input as one stream of steps in Lava's own time frame (column t = Lava's step t + 1,
    one step of latency per synapse), the neurons reset as netx's ``Network(reset_interval=...,
    reset_offset=...)`` resets them (compute layer i at the steps where ``step % interval ==
    (offset + 1 + i) % interval``), or never (``reset_interval`` None). Sigma-delta neurons never reset,
    as in Lava."""

    reset_interval: Optional[int] = None
    reset_offset: int = 0

    def __post_init__(self):
        if self.reset_interval is not None and self.reset_interval < 1:
            raise ValueError(f"reset interval {self.reset_interval} must be at least 1")

    def first_reset(self, position: int) -> int:
        """The 0-based column before which compute layer ``position`` first resets."""
        r = self.reset_interval
        return (self.reset_offset + 1 + position - 1) % r


class Emulator:
    """Runs chunks of samples through ``net``; call :meth:`run` repeatedly for consecutive chunks.

    ``stream``: None runs each sample in its own window of T steps (see the module's docstring);
    a ``Stream`` runs each input as one stream. ``drive="bias"``: the input layer's neuron is driven
    by its bias (one frame per sample, as lava-dl's PilotNet tests feed ``image.npy``) instead of
    inputs into its ``a_in``."""

    def __init__(self, net: DeployedNet, stream: Optional[Stream] = None, drive: str = "spikes"):
        self.net = net
        self.stream = stream
        if drive not in ("spikes", "bias"):
            raise ValueError(f"drive {drive!r}: 'spikes' or 'bias'")
        if drive == "bias" and not net.input_neuron:
            raise ValueError("only an input layer with a neuron can be driven by its bias")
        self.drive = drive
        self.layers = [self._prepare(layer) for layer in net.compute_layers]
        if stream is None:
            for p in self.layers:
                if not NEURON_RUNS[p.layer.neuron.family].resets:
                    raise ValueError(
                        f"layer {p.layer.name}: {p.layer.neuron.kind} neurons never reset, so samples "
                        f"cannot run in separate windows: run the input as one stream"
                    )
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
            shift = NEURON_RUNS[layer.neuron.family].bias_shift
            p.bias = torch.from_numpy(np.ascontiguousarray(b).astype(np.float64) * (1 << shift))
        else:
            p.bias = None
        return p

    def reset(self) -> None:
        """Forget the previous chunk (only dense delays and recurrent layers carry anything across
        samples)."""
        self.tails = {}

    def run(self, x, record: tuple = ("spikes",), steps: Optional[int] = None) -> Trace:
        """``x``: (K, *input_shape, T) integers, the inputs of K consecutive samples (windows) or K
        separate streams of T steps; with ``drive="bias"``, (K, *input_shape) bias mantissas, one frame
        per sample, run for ``steps`` steps."""
        x = np.asarray(x)
        bias_in = None
        if self.drive == "bias":
            if steps is None or steps < 1:
                raise ValueError("a bias-driven input needs the number of steps to run")
            if self.stream is None:
                fast = _spike_path_trace(self, None, record, x, int(steps))
                if fast is not None:
                    return fast
            bias_in = torch.from_numpy(x.astype(np.float64) * (1 << 6))
            x = np.zeros(x.shape + (int(steps),), dtype=np.int32)
        if self.stream is None:
            return self._run(x, record, bias_in)
        if not self._couples_samples():  # every layer keeps K as a batch axis: the streams at once
            self.reset()
            out = self._run(x, record, bias_in)
            self.reset()
            return out
        parts = []
        for j in range(
            x.shape[0]
        ):  # a delay or a recurrent layer runs K as one time line: one by one
            self.reset()
            b = None if bias_in is None else bias_in[j : j + 1]
            parts.append(self._run(x[j : j + 1], record, b))
        self.reset()
        return Trace.concat(parts)

    def _couples_samples(self) -> bool:
        """Whether some layer runs the K inputs of a call as one time line (a dense layer with delays
        or a recurrent layer, whose state crosses from one window into the next)."""
        return bool(self.max_delay) or any(SYNAPSES[p.layer.kind].recurrent for p in self.layers)

    def _run(self, x: np.ndarray, record: tuple, bias_in) -> Trace:
        if self.stream is None and bias_in is None:
            fast = _spike_path_trace(self, x, record)
            if fast is not None:
                return fast
        k = x.shape[0]
        prev_max = float(np.abs(x).max()) if x.size else 0.0  # bounds every sum of the next layer
        binary = not self.net.input_neuron and self.net.input_bits == 0
        if binary:
            prev_max = min(prev_max, 1.0)
        keep_state = "current" in record or "voltage" in record
        # the layer's input batch-major (K, ..., T) as it comes, and time-major (T, K, ...) as the
        # torch path takes it: made from the batch-major one when a layer first needs it
        src = np.ascontiguousarray(x)
        src, prev = torch.from_numpy(src if src.flags.writeable else src.copy()), None
        spikes, currents, voltages, logits = [], [], [], None
        last = len(self.layers) - 1
        for i, p in enumerate(self.layers):
            kind = SYNAPSES[p.layer.kind]
            fused = None
            if kind.scatter and src is not None and not keep_state:
                fused = scatter.run(self, p, src, binary and i == 0, prev_max)
            if fused is not None:
                raster, v_last = fused
                spikes.append(raster.numpy())
                if i == last:
                    logits = (v_last / float(1 << 12)).numpy()
                src, prev, prev_max = raster, None, 1.0
                continue
            if (
                prev is None
            ):  # time-major in one copy: the compare keeps src's layout, the cast moves it
                prev = src.movedim(-1, 0)
                if binary and i == 0:
                    prev = prev != 0
                prev = prev.to(sum_dtype(prev_max), memory_format=torch.contiguous_format)
            src = None
            a, a_max = kind.run(self, i, p, prev, prev_max)
            if self.stream is not None and p.layer.kind != "input":
                a = _one_step_later(a)  # Lava's synapse hands on each step's sum one step later
            bias = bias_in if (i == 0 and bias_in is not None) else p.bias
            out = self._neurons(i, p, a, a_max, bias, keep_state or i == last)
            view = _from_channels_last if kind.channels_last else (lambda v: v)
            s = view(out.out)
            spikes.append(batch_major(s, torch.int32 if out.graded else torch.uint8))
            if keep_state:
                currents.append(_to_batch_major(view(out.u)).to(torch.int32).numpy())
                voltages.append(_to_batch_major(view(out.v)).to(torch.int32).numpy())
            if i == last:
                logits = (view(out.v)[-1].reshape(k, -1) / float(1 << 12)).numpy()
            prev, prev_max = s, out.out_max
        return Trace(
            spikes,
            logits.astype(np.float64),
            currents if keep_state else None,
            voltages if keep_state else None,
        )

    def _neurons(self, i: int, p: Prepared, a, a_max: float, bias, record: bool) -> NeuronOut:
        """Layer ``i``'s neurons over ``a``: one window (or stream) from rest, or, in a stream with
        resets, each stretch between two resets from rest."""
        kind = SYNAPSES[p.layer.kind]
        if kind.recurrent:  # its own spikes feed back: it runs its neurons itself, step by step
            return kind.run_neurons(self, i, p, a, a_max, bias, record)
        runner = NEURON_RUNS[p.layer.neuron.family]
        own = p.layer.kind != "input"
        n = p.layer.neuron
        if self.stream is None or self.stream.reset_interval is None or not runner.resets:
            return runner.run(a, a_max, n, bias, record, own)
        r, t0 = self.stream.reset_interval, self.stream.first_reset(i)
        steps = a.shape[0]
        pieces = []
        if t0:
            pieces.append(runner.run(a[:t0].contiguous(), a_max, n, bias, record, False))
        rest = a[t0:]
        if len(rest):
            m = -(-len(rest) // r)
            pad = torch.zeros((m * r - len(rest),) + tuple(rest.shape[1:]), dtype=rest.dtype)
            seg = torch.cat([rest, pad]).reshape((m, r) + tuple(rest.shape[1:]))
            seg = seg.transpose(0, 1).reshape((r, m * rest.shape[1]) + tuple(rest.shape[2:]))
            o = runner.run(seg.contiguous(), a_max, n, bias, record, True)
            pieces.append(_unsegment(o, m, rest.shape[1], len(rest)))
        return _join(pieces, steps)


def _one_step_later(a):
    """(T, K, ...) -> the same one step later (zeros first, the last step dropped)."""
    if isinstance(a, tuple):
        return tuple(_one_step_later(v) for v in a)
    return torch.cat([torch.zeros_like(a[:1]), a[:-1]])


def _unsegment(o: NeuronOut, m: int, k: int, length: int) -> NeuronOut:
    """(R, m*K, ...) segments back to (length, K, ...)."""

    def back(t):
        if t is None:
            return None
        r = t.shape[0]
        t = t.reshape((r, m, k) + tuple(t.shape[2:])).transpose(0, 1)
        return t.reshape((m * r, k) + tuple(t.shape[3:]))[:length]

    return NeuronOut(back(o.out), o.out_max, o.graded, back(o.u), back(o.v))


def _join(pieces: list, steps: int) -> NeuronOut:
    if len(pieces) == 1:
        return pieces[0]
    cat = lambda name: (  # noqa: E731
        None
        if getattr(pieces[0], name) is None
        else torch.cat([getattr(q, name).to(torch.float64) for q in pieces])
    )
    out = torch.cat([q.out.to(torch.float64) for q in pieces])
    return NeuronOut(out, max(q.out_max for q in pieces), pieces[0].graded, cat("u"), cat("v"))


def _spike_path_trace(
    emulator: Emulator, x: Optional[np.ndarray], record: tuple, frames=None, steps: int = 0
) -> Optional[Trace]:
    """The fused C++ path's trace (the same integers), or None where it does not apply; x None:
    the input neuron driven by the bias mantissas ``frames`` for ``steps`` steps."""
    from . import spike_path

    path = spike_path.plan(emulator, record)
    return path.run(x, frames, steps) if path is not None else None


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
