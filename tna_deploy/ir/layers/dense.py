"""``dense``: a fully connected layer over the flattened input, with optional per-synapse delays; its
weights go through netx's ``optimize_weight_bits`` and Lava's 8-bit clip and truncation
(``dense_weight_bits``). Without a neuron group netx gives it its default integrator.

netx's ``Network(sparse_fc_layer=True)`` builds Lava's ``Sparse`` synapse instead of ``Dense``
(for dense, dense_rec and complex dense layers alike). ``PySparseModelBitAcc`` does Dense's
fixed-point arithmetic on the same weights (the sign mode, 8-bit clip, truncation to
num_weight_bits, the sum handed on one step later and shifted by weight_exp), so it is no layer
kind of its own: the emulator runs both (tests/engine/test_rf_and_recurrent.py checks it against
Lava). A group with ``weight/real`` and ``weight/imag`` is a complex dense layer
(``dense_comp.py``), as netx builds it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..h5 import bias, integers, ints
from .base import LayerKind, NetxContext

NEEDS = "a dense layer needs shape and weight"
MAX_DELAY = 62  # netx clips dense delays to 62 steps


@dataclass(frozen=True)
class DenseWeights:
    """What netx's ``optimize_weight_bits`` and Lava's ``PyDenseModelBitAcc`` make of dense weights."""

    weight: np.ndarray  # after the left shift, clip to 8 bits and truncation to num_weight_bits
    num_weight_bits: int
    weight_exp: int  # the accumulated sum is shifted by this (right when negative, flooring)
    # the steps from the file's weights w to ``weight``, for writers that spell them out (ONNX):
    # w' = clip(w, -256, 254) when pre_clip; x = +-(w' << -weight_exp) (minus when negative);
    # x = clip(x, *clip); x = (x >> drop) << drop; weight = +-x
    pre_clip: bool = False
    negative: bool = False
    clip: tuple = (-256, 255)
    drop: int = 0


def optimize_weight_bits(weight: np.ndarray) -> tuple:
    """netx ``utils.optimize_weight_bits``: (the left-shifted weights, num_weight_bits, weight_exp,
    whether the weights were first clipped to -256..254)."""
    w = np.asarray(weight, dtype=np.int64)
    hi, lo = int(w.max()), int(w.min())
    pre_clip = (hi > 254 and lo < 0) or (lo < -256 and hi > 0)
    if pre_clip:
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:
        signed, scale = 0, -256 / lo
    elif lo >= 0:
        signed, scale = 0, 255 / hi
    else:  # netx's numpy: 127 / 0 is inf
        signed, scale = 1, min(127 / hi if hi else math.inf, -128 / lo)
    scale_bits = int(math.floor(math.log2(scale))) + signed
    if scale_bits < 0:
        raise ValueError(f"weights {lo}..{hi} do not fit Loihi's 8-bit synapse")
    n = 8
    while n > 0 and np.abs(w / 2**n - np.round(w / 2**n)).sum() != 0:
        n -= 1
    n -= signed
    scaled = (w.astype(np.int32) << scale_bits).astype(np.int64)
    return scaled, 8 - scale_bits - n, -scale_bits, pre_clip


def synapse_weights(
    scaled: np.ndarray, num_bits: int, weight_exp: int, pre_clip: bool = False
) -> DenseWeights:
    """What Lava's ``PyDenseModelBitAcc`` makes of netx's weights: it re-derives the sign mode from
    ``scaled`` itself, clips to 8 bits and truncates to ``num_bits``."""
    if scaled.min() >= 0:
        mode_min, mode_max, neg, mixed = 0, 255, False, 0
    elif scaled.max() <= 0:
        mode_min, mode_max, neg, mixed = 0, 255, True, 0
    else:
        mode_min, mode_max, neg, mixed = -256, 255, False, 1
    x = -scaled if neg else scaled
    x = np.clip(x, mode_min, mode_max)
    drop = 8 - num_bits + mixed
    x = (x >> drop) << drop
    return DenseWeights(
        -x if neg else x, num_bits, weight_exp, pre_clip, neg, (mode_min, mode_max), drop
    )


def dense_weight_bits(weight: np.ndarray) -> DenseWeights:
    """netx ``utils.optimize_weight_bits`` then Lava's ``clip_weights`` / ``truncate_weights``."""
    return synapse_weights(*optimize_weight_bits(weight))


def _delay(g, weight: np.ndarray, read):
    """Dense delays as netx reads them: clipped to 62, broadcast per output or per input."""
    if "delay" not in g:
        return None
    d = np.asarray(read(g, "delay"))
    if d.size and d.dtype.kind in "uif" and np.nanmax(d) > MAX_DELAY:
        d = np.clip(d, 0, MAX_DELAY)  # netx clips (with a warning)
    d = integers(d, "delay")
    if d.ndim == 0:
        return np.full(weight.shape, int(d))
    if d.ndim == 1:
        if d.size == weight.shape[0]:
            return np.repeat(d.reshape(-1, 1), weight.shape[1], axis=1)
        if d.size == weight.shape[1]:
            return np.repeat(d.reshape(1, -1), weight.shape[0], axis=0)
        raise ValueError(
            f"delays of shape {d.shape} fit neither the outputs nor the inputs of weights {weight.shape}"
        )
    return d


def dense_weight(ctx: NetxContext, name: str) -> tuple:
    """(input shape, outputs, weights (out, in)) of a dense-like group's ``name`` dataset, as netx
    reads it (a 1-D array is reshaped to the outputs); a multi-dimensional input needs a flatten."""
    g, read, shape = ctx.group, ctx.read, ctx.shape
    n_out = math.prod(ints(read(g, "shape", NEEDS), "shape"))
    w = integers(read(g, name, NEEDS), name)
    if w.ndim == 1 and n_out and w.size % n_out == 0:
        w = w.reshape(n_out, -1)
    if shape is not None and len(shape) > 1 and not ctx.after_flatten:
        raise ValueError(
            f"dense layer after a {len(shape)}-D layer needs a flatten layer between them"
        )
    if w.ndim != 2:
        raise ValueError(f"{name} of shape {w.shape}, expected (outputs {n_out}, inputs)")
    return (shape if shape is not None else (w.shape[1],)), n_out, w


def check_dense_weight(layer, w: np.ndarray, name: str = "weights") -> None:
    """``w`` maps the layer's flattened input to its outputs."""
    n_in = math.prod(layer.in_shape)
    if w.ndim != 2 or w.shape != (math.prod(layer.out_shape), n_in):
        raise ValueError(f"{name} {w.shape} do not map {n_in} inputs to shape {layer.out_shape}")


class Dense(LayerKind):
    name = "dense"
    compute = True

    @staticmethod
    def check(layer) -> None:
        w = layer.weight
        check_dense_weight(layer, w)
        if not w.any():
            raise ValueError("every weight is zero (netx cannot size such a synapse)")
        dense_weight_bits(w)
        if layer.delay is not None:
            d = np.asarray(layer.delay, dtype=np.int64)
            if d.shape != w.shape:
                raise ValueError(f"delays {d.shape} do not match weights {w.shape}")
            if d.min() < 0 or d.max() > MAX_DELAY:
                raise ValueError(f"delays {int(d.min())}..{int(d.max())} outside 0..{MAX_DELAY}")
            object.__setattr__(layer, "delay", d)

    @staticmethod
    def read_as(group) -> str:
        return "dense_comp" if "weight/imag" in group else "dense"  # netx: a ComplexDense

    @staticmethod
    def read_netx(ctx: NetxContext, neuron):
        in_shape, n_out, w = dense_weight(ctx, "weight")
        return ctx.layer(
            "dense",
            ctx.index,
            in_shape,
            (n_out,),
            neuron,
            w,
            bias(ctx.group, (n_out,), ctx.read),
            delay=_delay(ctx.group, w, ctx.read),
        )

    @staticmethod
    def write_netx(g, layer) -> None:
        g.create_dataset("weight", data=layer.weight)
        g.create_dataset("inFeatures", data=layer.weight.shape[1])
        g.create_dataset("outFeatures", data=layer.weight.shape[0])
        if layer.delay is not None:
            g.create_dataset("delay", data=layer.delay)

    @staticmethod
    def weight_bits(layer) -> int:
        return dense_weight_bits(layer.weight).num_weight_bits
