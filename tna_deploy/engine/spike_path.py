"""The emulator's fast path: each layer's synapse and neurons fused in one C++ pass
(``csrc/spike_layers.cpp``), on 0/1 spikes kept as uint8 between layers, channels-last.

It computes the same integers as the layer-by-layer torch path (``Emulator._run_layers``; tested on random
networks with 24-bit wraps, int32 shift wraps, biases and grouped convs) and applies when:
  * the fused build is available (a C++ compiler; ``TNA_FUSED`` not 0), the tensors are on the CPU;
  * every compute layer is ``input`` (first, with a neuron), ``conv`` or ``dense`` without delays, every
    neuron is CUBA (LIF), and conv weights / dense sums are integers below 2^31;
  * the first synapse sees 0/1 values (an input neuron's spikes, or an input without message bits), and
    an input neuron's inputs are integers of int32 range;
  * only spikes are recorded (u and v come from the torch path).
Otherwise :func:`plan` returns None (and :meth:`SpikePath.run` None for inputs it cannot take) and the
torch path runs.

Why it is faster: conv inputs are spikes (0/1, mostly 0 past the first layer), so each output adds the
weight rows of the active input channels only (an event-driven gather over per-pixel lists of active
channels) in exact int32, and the neuron runs on each output pixel's sums while they are in cache; the
samples, and bands of output rows within a sample, run in parallel on torch's intra-op threads.

Layers whose bounds make int32 exact (iDecay 4096; a conv's positive, and negative, weights summing to at
most 2^17; integer biases below 2^30; no x dilation: see ``csrc/spike_fast.cpp``) run int32 kernels, eight
neurons to a register, each output pixel through the window with its state in registers, reading the active
inputs of a kernel row as the set bits of the frame packed to bits; an input neuron whose inputs hold
through the window (every one under ``drive="bias"``) takes its spike train from a cache keyed by (input,
bias). ``FAST = False`` runs
the double kernels (``csrc/spike_layers.cpp``) instead, the same integers (tests/engine/test_spike_fast.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .cuba import STATE_SHIFT
from .trace import Trace

log = logging.getLogger(__name__)

INT32_LIMIT = 1 << 31
ENABLED = True  # read at call time: tests set it False to run the torch path on the same network
FAST = True  # read at call time: tests set it False to run the double kernels where the int32 ones apply


@dataclass
class _Step:
    """One compute layer, ready for the kernel."""

    kind: str  # "input" | "conv" | "dense"
    out_frame: tuple  # the output as the kernel lays it out: (H, W, C) (dense: (1, 1, N))
    out_shape: tuple  # the file's shape, (C, H, W) or (N,)
    neuron: tuple  # (i_decay, v_decay, has_threshold, fire_at)
    bias: torch.Tensor  # double, state units, in the kernel's neuron order (empty: none)
    weight: Optional[torch.Tensor] = None  # int32 (G, KH, KW, Cin/G, Ow >= Cout/G), zero-padded
    outputs: int = 0  # Cout/G
    geometry: tuple = (1, 1, 0, 0, 1, 1)  # stride y, x; padding y, x; dilation y, x
    weight_exp: int = 0
    table: Optional[torch.Tensor] = None  # conv: sums of kernel-row weight subsets (see _row_table)
    fast: bool = False  # the int32 kernels (csrc/spike_fast.cpp) apply (_fresh, _fast_conv)
    bias_int: Optional[torch.Tensor] = None  # fast: the int32 bias (conv: (OH * OW, Ow))


def _frame(shape: tuple) -> tuple:
    """A layer's (C, H, W) or (N,) shape as the kernel's (H, W, C) frame."""
    if len(shape) == 3:
        c, h, w = shape
        return (h, w, c)
    return (1, 1, int(np.prod(shape)))


def _hwc_order(shape: tuple) -> np.ndarray:
    """For each (H, W, C)-frame position, the index of the same value in the (C, H, W) flattening."""
    if len(shape) != 3:
        return np.arange(int(np.prod(shape)))
    return np.arange(int(np.prod(shape))).reshape(shape).transpose(1, 2, 0).reshape(-1)


def _integers(w: np.ndarray) -> Optional[np.ndarray]:
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w != np.round(w)) or np.abs(w).max() >= INT32_LIMIT:
        return None
    return w.astype(np.int64)


def _conv_out(size: int, k: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def _padded(w: np.ndarray) -> torch.Tensor:
    """(G, KH, KW, Cin/G, Cout/G) int32 weights; ungrouped, the rows zero-padded to a multiple of 8 lanes
    (the kernel's AVX2 path)."""
    g, o = w.shape[0], w.shape[-1]
    width = -(-o // 8) * 8 if g == 1 else o
    out = np.zeros(w.shape[:-1] + (width,), dtype=np.int32)
    out[..., :o] = w
    return torch.from_numpy(out)


TABLE_BITS = 10  # kernel rows of at most this many input bytes (KW x Cin) get a table
TABLE_BYTES = 1 << 20


def _row_table(weight: torch.Tensor) -> Optional[torch.Tensor]:
    """For a kernel whose rows span few input bytes (a first conv on RGB: 3 x 3 = 9), (KH, 2^(KW*Cin), Ow)
    int32: entry m of row ky sums the weights of the row's inputs whose bits are set in m (two's-complement
    wrap, as the kernel's sums). Where the table is too large, None (the kernel gathers active inputs)."""
    _, kh, kw, cin, width = weight.shape
    bits = kw * cin
    if bits > TABLE_BITS or kh * (1 << bits) * width * 4 > TABLE_BYTES:
        return None
    rows = (
        weight[0].numpy().astype(np.int64).reshape(kh, bits, width)
    )  # bit b: (kx, c) = divmod(b, Cin)
    subsets = (np.arange(1 << bits)[:, None] >> np.arange(bits)) & 1  # (2^bits, bits)
    sums = np.einsum("mb,kbo->kmo", subsets, rows)
    return torch.from_numpy(((sums + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32))


def _neuron(layer) -> Optional[tuple]:
    n = layer.neuron
    if getattr(n, "family", "cuba") != "cuba":
        return None
    threshold = getattr(n, "threshold", None)
    fire_at = 0 if threshold is None else (int(threshold) << STATE_SHIFT) + 1  # Loihi: v > vth << 6
    return (int(n.current_decay), int(n.voltage_decay), threshold is not None, fire_at)


def _bias(p) -> torch.Tensor:
    b = p.bias
    if isinstance(b, torch.Tensor):
        return b.to(torch.float64).reshape(-1).contiguous()
    return torch.empty(0, dtype=torch.float64)


FAST_IN = 1 << 17  # a fast conv's positive (and negative) weights sum to at most this
FAST_BIAS = 1 << 30  # with |v| < 2^23 and |u| <= 2^23, v's sum before the clip stays in int32


def _fresh(neuron: tuple) -> bool:
    """iDecay 4096 (u is each step's a_in << 6) and a voltage decay that keeps 0..4096 / 4096 of v."""
    return neuron[0] == 4096 and 0 <= neuron[1] <= 4096


def _int_bias(bias: torch.Tensor) -> Optional[torch.Tensor]:
    """The bias (state units) as int32 where every value is an integer of magnitude below 2^30."""
    b = bias.numpy()
    if not b.size:
        return torch.from_numpy(b.astype(np.int32))
    if not np.all(np.isfinite(b)) or np.any(b != np.round(b)) or np.abs(b).max() >= FAST_BIAS:
        return None
    return torch.from_numpy(b.astype(np.int32))


def _fast_conv(s: _Step) -> None:
    """Marks an ungrouped conv whose every sum is provably in range (see csrc/spike_fast.cpp) as fast."""
    g, kh, kw = s.weight.shape[:3]
    if g != 1 or kh > 64 or s.geometry[5] != 1 or not _fresh(s.neuron):
        return  # the int32 kernel reads a kernel row as KW * Cin contiguous input bytes (no x dilation)
    w = s.weight.numpy().astype(np.int64).reshape(-1, s.weight.shape[-1])
    if np.clip(w, 0, None).sum(0).max() > FAST_IN or np.clip(-w, 0, None).sum(0).max() >= FAST_IN:
        return
    b = _int_bias(s.bias)
    if b is None:
        return
    oh, ow, cout = s.out_frame
    padded = torch.zeros((oh * ow, s.weight.shape[-1]), dtype=torch.int32)
    if b.numel():
        padded[:, :cout] = b.reshape(oh * ow, cout)
    s.fast, s.bias_int = True, padded


def _step(p, prev_shape: Optional[tuple]) -> Optional[_Step]:
    layer = p.layer
    neuron = _neuron(layer)
    if neuron is None:
        return None
    out_shape = tuple(layer.out_shape)
    step = _Step(layer.kind, _frame(out_shape), out_shape, neuron, _bias(p))
    if layer.kind == "input":
        if prev_shape is not None:
            return None
        step.bias_int = _int_bias(step.bias) if _fresh(neuron) else None
        step.fast = step.bias_int is not None
        return step
    if prev_shape is None:
        return None
    if layer.kind == "conv":
        w = _integers(layer.weight)
        if w is None or len(prev_shape) != 3:
            return None
        cout, cg, kh, kw = w.shape
        g = int(layer.groups)
        c, h, wd = prev_shape
        sizes = zip((h, wd), (kh, kw), layer.stride, layer.padding, layer.dilation)
        if out_shape != (cout, *(_conv_out(*a) for a in sizes)) or cg * g != c or cout % g:
            return None  # the kernel trusts these shapes
        w = w.reshape(g, cout // g, cg, kh, kw).transpose(0, 3, 4, 2, 1)
        step.weight, step.outputs = _padded(w), cout // g
        step.geometry = (*layer.stride, *layer.padding, *layer.dilation)
        if g == 1 and layer.dilation[1] == 1:
            step.table = _row_table(step.weight)
        _fast_conv(step)
        return step
    if layer.kind == "dense":
        if len(p.delays) != 1 or p.delays[0][0] != 0 or p.row_sum >= INT32_LIMIT:
            return None
        w = _integers(p.delays[0][1].numpy())
        if w is None:
            return None
        if not -31 <= p.weight_exp <= 31:
            return None
        w = w[:, _hwc_order(prev_shape)]  # the previous layer's spikes arrive in (H, W, C) order
        step.weight, step.outputs = _padded(w.T.reshape(1, 1, 1, *w.T.shape)), w.shape[0]
        step.weight_exp = int(p.weight_exp)
        return step
    return None


def plan(emulator, record: tuple) -> Optional["SpikePath"]:
    """The fast path for ``emulator``'s network, or None where it does not apply (see the module)."""
    from . import spike_ext

    if not ENABLED or "current" in record or "voltage" in record or emulator.max_delay:
        return None
    net = emulator.net
    if not net.input_neuron and net.input_bits != 0:
        return None
    cached = getattr(emulator, "_spike_path", False)
    if cached is not False:
        return cached
    steps, prev = [], (None if net.input_neuron else tuple(net.input_shape))
    for p in emulator.layers:
        s = _step(p, prev)
        if s is None:
            steps = None
            break
        steps.append(s)
        prev = s.out_shape
    kernels = spike_ext.get() if steps else None
    path = (
        SpikePath(kernels, steps, bool(net.input_neuron), net.input_shape)
        if kernels is not None
        else None
    )
    emulator._spike_path = path
    return path


class SpikePath:
    def __init__(self, kernels, steps: list, input_neuron: bool, input_shape: tuple):
        self.kernels = kernels
        self.steps = steps
        self.input_neuron = input_neuron
        self.input_shape = tuple(input_shape)

    def run(self, x: Optional[np.ndarray], frames=None, steps: int = 0) -> Optional[Trace]:
        """``x`` (K, *input_shape, T): the emulator's :meth:`run` input; or, with an input neuron, x None
        and ``frames`` (K, *input_shape) its per-sample bias mantissas (``drive="bias"``: the input neuron
        gains frame << 6 every step) for ``steps`` steps. None where the path cannot take it."""
        bias = None
        if x is None:
            if frames is None or not self.input_neuron or steps < 1:
                return None
            frames = np.asarray(frames)
            if tuple(frames.shape[1:]) != self.input_shape or not len(frames):
                return None
            k, t, xin, prev = frames.shape[0], int(steps), None, None
            bias = _sample_bias(frames.reshape(k, -1), _fresh(self.steps[0].neuron))
        elif x.ndim < 2 or tuple(x.shape[1:-1]) != self.input_shape or 0 in x.shape:
            return None  # the torch path says what is wrong
        else:
            k, t = x.shape[0], x.shape[-1]
        if x is not None and self.input_neuron:
            if not np.issubdtype(x.dtype, np.integer):
                return None
            if x.dtype.itemsize > 4 or x.dtype == np.uint32:
                if x.size and (x.max() >= INT32_LIMIT or x.min() < -INT32_LIMIT):
                    return None
            xin = torch.from_numpy(np.ascontiguousarray(x, dtype=np.int32).reshape(k, -1, t))
            prev = None
        elif x is not None:
            frame = _frame(tuple(x.shape[1:-1]))
            chw = torch.from_numpy(np.ascontiguousarray(x != 0)).to(torch.uint8)
            if len(x.shape) == 5:  # (K, C, H, W, T) -> (K, T, H, W, C)
                prev = chw.permute(0, 4, 2, 3, 1).contiguous()
            else:
                prev = chw.reshape(k, -1, t).transpose(1, 2).contiguous().reshape(k, t, *frame)
        last = len(self.steps) - 1
        threads = torch.get_num_threads()
        spikes, logits = [], None
        for i, s in enumerate(self.steps):
            out = torch.empty((k, t, *s.out_frame), dtype=torch.uint8)
            keep_v = torch.empty((k, out[0, 0].numel()), dtype=torch.float64) if i == last else None
            if s.kind == "input":
                self._input(s, xin, (k, t), bias, out, keep_v, threads)
            else:
                self._conv(s, prev, out, keep_v, threads)
            spikes.append(_batch_major(out.numpy(), s.out_shape))
            if i == last:
                v = keep_v  # the input layer keeps the file's order; the others run in (H, W, C)
                if s.kind != "input":
                    v = keep_v[:, torch.from_numpy(np.argsort(_hwc_order(s.out_shape)))]
                logits = (v / float(1 << (2 * STATE_SHIFT))).numpy().astype(np.float64)
            prev = out
        return Trace(spikes, logits)

    def _fast(self, s: _Step) -> bool:
        return s.fast and FAST and getattr(self.kernels, "fast", False)

    def _input(self, s: _Step, x, kt: tuple, bias, out: torch.Tensor, last_v, threads: int) -> None:
        """The input layer on x (K, N, T) int32, or on zeros (x None) with ``bias`` (K, N) per sample:
        :func:`_sample_bias`'s pair."""
        k, t = kt
        n = int(np.prod(s.out_shape))
        c = s.out_frame[2] if len(s.out_shape) == 3 else 1  # 1D inputs: one channel of n pixels
        b, b_int = (s.bias, s.bias_int) if bias is None else (bias[1], bias[0])
        if (x is not None and tuple(x.shape) != (k, n, t)) or out.numel() != k * t * n:
            raise ValueError(f"spike path: input of {s.out_shape} got {(k, n, t)}")
        per_sample = n if bias is not None else 0
        if bias is None and b.numel() not in (0, n):
            raise ValueError(f"spike path: input of {s.out_shape} got a bias of {b.numel()}")
        fast = FAST and getattr(self.kernels, "fast", False)
        if b_int is not None and fast and n * t < INT32_LIMIT:
            self.kernels.input_fast(
                _ptr(x), k, c, n // c, t, *s.neuron[1:], _ptr(b_int), per_sample,
                out.data_ptr(), _ptr(last_v), threads,
            )  # fmt: skip
            return
        if x is None:
            x = torch.zeros((k, n, t), dtype=torch.int32)
        if b is None:
            b = bias[2]()
        self.kernels.input_forward(
            x.data_ptr(), k, c, n // c, t, *s.neuron, _ptr(b), per_sample,
            out.data_ptr(), _ptr(last_v), threads,
        )  # fmt: skip

    def _conv(self, s: _Step, x: torch.Tensor, out: torch.Tensor, last_v, threads: int) -> None:
        k, t = x.shape[:2]
        if s.kind == "dense":
            x = x.reshape(k, t, 1, 1, -1)
        g, kh, kw, cg, width = s.weight.shape
        oh, ow, cout = s.out_frame
        if not (
            x.is_contiguous() and out.is_contiguous() and x.dtype == out.dtype == torch.uint8
            and x.shape[4] == g * cg and cout == g * s.outputs and tuple(out.shape[:2]) == (k, t)
            and s.bias.numel() in (0, oh * ow * cout)
        ):  # fmt: skip
            raise ValueError(
                f"spike path: {s.kind} layer of {s.out_shape} got input {tuple(x.shape)}"
            )
        blocks = -(-2 * threads // k)
        if self._fast(s):
            self.kernels.conv_fast(
                x.data_ptr(), k, t, x.shape[2], x.shape[3], x.shape[4], s.weight.data_ptr(),
                kh, kw, cout, width, oh, ow, *s.geometry, *s.neuron[1:], _ptr(s.bias_int),
                out.data_ptr(), _ptr(last_v), blocks, threads, _ptr(s.table),
            )  # fmt: skip
            return
        self.kernels.conv_forward(
            x.data_ptr(), k, t, x.shape[2], x.shape[3], x.shape[4], s.weight.data_ptr(),
            g, kh, kw, cg, s.outputs, width, oh, ow, *s.geometry, int(s.kind == "dense"), s.weight_exp,
            *s.neuron, _ptr(s.bias), out.data_ptr(), _ptr(last_v), blocks, threads, _ptr(s.table),
        )  # fmt: skip


def _sample_bias(frames: np.ndarray, fresh: bool) -> tuple:
    """Per-sample bias mantissas (K, N) as the input kernels take them: (int32 state units for the int32
    kernel where they are integers below 2^24 and the neuron ``fresh``, else None; the float64 state units,
    else None; a function giving the float64 state units, as the torch path computes them)."""

    def double() -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float64) * (1 << 6))

    if fresh and np.issubdtype(frames.dtype, np.integer) and frames.size:
        if frames.max() < 1 << 24 and frames.min() > -(1 << 24):
            return torch.from_numpy(frames.astype(np.int32) << 6), None, double
    return None, double(), double


def _ptr(x: Optional[torch.Tensor]):
    return x.data_ptr() if x is not None and x.numel() else None


def _batch_major(s: np.ndarray, shape: tuple) -> np.ndarray:
    """(K, T, H, W, C) spikes -> a (K, *shape, T) view, the torch path's values and shape (not its
    memory order: a copy into that order would cost as much as a layer)."""
    k, t = s.shape[:2]
    if len(shape) == 3:
        return s.transpose(0, 4, 2, 3, 1)
    return s.reshape(k, t, -1).transpose(0, 2, 1).reshape(k, *shape, t)
