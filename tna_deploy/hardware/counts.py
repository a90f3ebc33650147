"""Op counts from measured spikes, by NeuroBench's definitions, for the layers of a ``DeployedNet``.

Effective synaptic ops: pairs (nonzero input, nonzero weight), i.e. the layer re-run with inputs and
weights binarized, outputs summed. They are counted here as sum_j [s_j != 0] * F_j, where F_j is
input j's exact fan-out over nonzero weights: a transposed conv of an all-ones output map with the
nonzero-weight mask (so borders, padding, strides and dilation are exact, as in sinabs); for SLAYER's
pool, unpool and convT, the gradient of the emulator's own synapse run on that mask. ``simulate``
applies it chunk by chunk and saves per sample, layer and timestep; the report reads those. Dense
count: the same with every input and weight set to 1. A layer whose inputs are all in {0, 1} counts
ACs, otherwise MACs (the first layer takes graded pixels). Graded spikes (sigma-delta layers) count
as messages: one per nonzero value, as a binary spike (``simulate``'s collector and ``synops``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.numeric import F32_EXACT
from ..engine.synapses import SYNAPSES, Prepared
from ..ir import Layer

SPATIAL = ("pool", "unpool", "convT")  # SLAYER's kinds: counted through the emulator's own synapse


def _spatial_map(layer: Layer, weight: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    """The emulator's synapse of a pool / unpool / convT ``layer`` with ``weight`` in place of its own,
    applied to ``x`` (in_shape) as one step of one sample: the layer's exact connectivity."""
    fields = {k: getattr(layer, k) for k in layer.__dataclass_fields__}
    p = Prepared(Layer(**{**fields, "weight": weight}))
    SYNAPSES[layer.kind].prepare(p)
    return SYNAPSES[layer.kind].run(None, 0, p, x.reshape(1, 1, *layer.in_shape), 1.0)[0]


def _spatial_fanout(layer: Layer, mask: np.ndarray) -> np.ndarray:
    """Per input, the synapses leaving it: the gradient of the sum of all outputs of the 0/1 mask."""
    x = torch.ones(layer.in_shape, dtype=torch.float64, requires_grad=True)
    _spatial_map(layer, mask.astype(np.int64), x).sum().backward()
    return x.grad.round().numpy().astype(np.int64)


def _spatial_fan_in(layer: Layer, weight: np.ndarray) -> int:
    """The largest sum of ``weight`` (e.g. a 0/1 mask, or |w|) over the synapses into one output."""
    x = torch.ones(layer.in_shape, dtype=torch.float64)
    return int(round(float(_spatial_map(layer, weight, x).max())))


def _mask(weight: np.ndarray, nonzero_only: bool) -> np.ndarray:
    return (weight != 0) if nonzero_only else np.ones_like(weight, dtype=bool)


def recurrent_fanout(layer: Layer, nonzero_only: bool = True) -> Optional[np.ndarray]:
    """A recurrent layer's (``dense_rec``) own neurons' fan-out back into it (out_shape), else None."""
    if layer.weight_rec is None:
        return None
    return _mask(layer.weight_rec, nonzero_only).sum(axis=0).astype(np.int64)


def fanout(layer: Layer, nonzero_only: bool = True) -> np.ndarray:
    """Per input neuron (in_shape): how many synapses (nonzero ones, or all) leave it; a complex dense
    layer's real and imaginary synapses are two each (Lava runs two dense synapses)."""
    mask = _mask(layer.weight, nonzero_only)
    if layer.weight_imag is not None:
        both = mask.sum(axis=0) + _mask(layer.weight_imag, nonzero_only).sum(axis=0)
        return both.astype(np.int64).reshape(layer.in_shape)
    if layer.kind in SPATIAL:
        return _spatial_fanout(layer, mask)
    if not layer.is_conv:
        return mask.sum(axis=0).astype(np.int64).reshape(layer.in_shape)
    c_out, h_out, w_out = layer.out_shape
    _, h_in, w_in = layer.in_shape
    k_h, k_w = mask.shape[2:]
    (s_h, s_w), (p_h, p_w), (d_h, d_w) = layer.stride, layer.padding, layer.dilation
    out_pad = (
        h_in - ((h_out - 1) * s_h - 2 * p_h + d_h * (k_h - 1) + 1),
        w_in - ((w_out - 1) * s_w - 2 * p_w + d_w * (k_w - 1) + 1),
    )
    ones = torch.ones((1, c_out, h_out, w_out), dtype=torch.float64)
    if max(out_pad) >= max(s_h, s_w, d_h, d_w):  # torch refuses such output padding: pad by hand
        f = F.conv_transpose2d(
            ones,
            torch.from_numpy(mask.astype(np.float64)),
            stride=(s_h, s_w),
            dilation=(d_h, d_w),
            groups=layer.groups,
        )
        f = F.pad(
            f, (0, max(0, w_in + 2 * p_w - f.shape[-1]), 0, max(0, h_in + 2 * p_h - f.shape[-2]))
        )
        f = f[..., p_h : p_h + h_in, p_w : p_w + w_in]
    else:
        f = F.conv_transpose2d(
            ones,
            torch.from_numpy(mask.astype(np.float64)),
            stride=(s_h, s_w),
            padding=(p_h, p_w),
            output_padding=out_pad,
            dilation=(d_h, d_w),
            groups=layer.groups,
        )
    return f[0].round().numpy().astype(np.int64)


def synops_of(active: torch.Tensor, fo: torch.Tensor) -> torch.Tensor:
    """(K, T) int64 synaptic ops: sum_j active[k, j, t] * fo[j], for ``active`` (K, J, T) in {0, 1} and
    ``fo`` (J,) the inputs' fan-outs. The one definition ``simulate`` (chunk by chunk) and ``synops``
    use: float32 where every sum stays below 2^24 (so every partial sum is an exact integer, and fast),
    float64 otherwise."""
    dtype = torch.float32 if float(fo.sum()) < F32_EXACT else torch.float64
    active, fo = active.to(dtype), fo.to(dtype)
    if active.stride(1) < active.stride(2):  # a (K, J, T) view of (K, T, J) memory: rows times fo
        out = torch.matmul(active.transpose(1, 2), fo)
    else:  # fo times each sample's (J, T) matrix (an einsum over "kjt,j" is several times slower)
        out = torch.matmul(fo, active)
    return out.round().to(torch.int64)


def synops(layer: Layer, raster: np.ndarray, nonzero_only: bool = True) -> np.ndarray:
    """(K, T) synaptic ops per sample and timestep for input activity ``raster`` (K, *in_shape, T)."""
    fo = torch.from_numpy(fanout(layer, nonzero_only).reshape(-1))
    active = torch.from_numpy(raster.reshape(raster.shape[0], -1, raster.shape[-1]) != 0)
    return synops_of(active, fo).numpy()


def ann_macs(layer: Layer) -> int:
    """MACs of the same layer in a dense ANN (one pass, zero padding counted, as usual; for SLAYER's
    pool / unpool / convT, the input-weight pairs that reach an output)."""
    if layer.kind in SPATIAL:
        return int(fanout(layer, False).sum())
    if layer.is_conv:
        c_out, h_out, w_out = layer.out_shape
        return int(
            c_out
            * h_out
            * w_out
            * layer.weight.shape[1]
            * layer.weight.shape[2]
            * layer.weight.shape[3]
        )
    return int(layer.weight.size)


def stats(per_sample_time: np.ndarray) -> dict:
    """Per timestep and per inference (sum over time), each as the mean and the max over samples."""
    per_inf = per_sample_time.sum(axis=1)
    return dict(
        per_timestep_mean=[float(v) for v in per_sample_time.mean(axis=0)],
        per_timestep_max=[float(v) for v in per_sample_time.max(axis=0)],
        per_inference_mean=float(per_inf.mean()),
        per_inference_max=float(per_inf.max()),
    )


def layer_activity(
    layer: Layer,
    synops_kt: np.ndarray,
    spikes_in_kt: np.ndarray,
    spikes_out_kt,
    graded_input: bool,
    timesteps: int,
) -> dict:
    """Everything measured for one layer from per-sample, per-timestep counts (K, T) of its synaptic ops
    and of its input and output spikes (None for the read-out, which never spikes)."""
    k = synops_kt.shape[0]
    dense = 0.0 if layer.kind == "input" else float(fanout(layer, False).sum())
    out = spikes_out_kt if spikes_out_kt is not None else np.zeros((k, timesteps), dtype=np.int64)
    return dict(
        op_type="-" if layer.kind == "input" else "MAC" if graded_input else "AC",
        synops=stats(synops_kt),
        synops_dense_per_timestep=dense,
        synops_dense_per_inference=dense * timesteps,
        spikes_in=stats(spikes_in_kt),
        spikes_out=stats(out),
        firing_rate=float(out.sum() / (k * layer.neurons * timesteps))
        if spikes_out_kt is not None
        else None,
        neuron_updates_per_inference=layer.neurons * timesteps,
    )


def static_counts(layer: Layer) -> dict:
    """Structure only: neurons, synapses (exact, with borders), parameters, memory. An input layer with its
    own neuron (the input enters its ``a_in`` directly) has neurons and nothing else."""
    if layer.kind == "input":
        zero = dict.fromkeys(
            (
                "synapses",
                "nonzero_synapses",
                "parameters",
                "nonzero_parameters",
                "fan_in_max",
                "weight_row_sum_max",
                "ann_macs",
                "distinct_weights",
                "weight_bits",
            ),
            0,
        )
        return dict(
            name=layer.name,
            kind=layer.label,
            role=layer.role,
            mode="none",
            in_shape=list(layer.in_shape),
            out_shape=list(layer.out_shape),
            neurons=layer.neurons,
            weight_bytes_chip=0.0,
            weight_bytes_int8=0.0,
            weight_bytes_fp32=0.0,
            synapse_bytes_expanded=0.0,
            **zero,
        )
    synapses = int(fanout(layer, False).sum())
    nonzero = int(fanout(layer, True).sum())
    params = int(layer.weight.size)
    nz_params = int((layer.weight != 0).sum())
    for extra in (layer.weight_rec, layer.weight_imag):  # a second synapse: its weights count too
        if extra is not None:
            params += int(extra.size)
            nz_params += int((extra != 0).sum())
            if extra is layer.weight_rec:
                synapses += int(extra.size)
                nonzero += int((extra != 0).sum())
    if layer.kind in SPATIAL:  # weights (in, out, kH, kW) or one shared kernel: by the synapse
        fan_in_max = _spatial_fan_in(layer, (layer.weight != 0).astype(np.int64))
        row_sum_max = _spatial_fan_in(layer, np.abs(layer.weight))
    else:
        rows = [
            w.reshape(w.shape[0], -1) for w in (layer.weight, layer.weight_rec) if w is not None
        ]
        w = np.hstack(rows)  # a recurrent layer's neuron sums its input's and its own synapses
        fan_in_max = int((w != 0).sum(axis=1).max())
        row_sum_max = int(np.abs(w).sum(axis=1).max())
    return dict(
        name=layer.name,
        kind=layer.label,
        role=layer.role,
        mode=layer.mode,
        weight_bits=layer.weight_bits,
        in_shape=list(layer.in_shape),
        out_shape=list(layer.out_shape),
        neurons=layer.neurons,
        synapses=synapses,
        nonzero_synapses=nonzero,
        parameters=params,
        nonzero_parameters=nz_params,
        fan_in_max=fan_in_max,
        weight_row_sum_max=row_sum_max,
        weight_bytes_chip=params * layer.weight_bits / 8.0,
        weight_bytes_int8=float(params),
        weight_bytes_fp32=params * 4.0,
        synapse_bytes_expanded=nonzero * layer.weight_bits / 8.0,
        ann_macs=ann_macs(layer),
        distinct_weights=int(
            len(np.unique(np.concatenate([w.reshape(-1) for w in _weights(layer)])))
        ),
    )


def _weights(layer: Layer) -> list:
    return [w for w in (layer.weight, layer.weight_rec, layer.weight_imag) if w is not None]
