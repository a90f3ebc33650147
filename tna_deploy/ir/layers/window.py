"""What the windowed kinds SLAYER exports beside ``conv`` (``pool``, ``unpool``, ``convT``) share: their
netx fields (``kernelSize``, ``stride``, ``padding``, ``dilation``, a weight of (in, out, kH, kW)) as
lava-dl's ``export_hdf5`` writes them, and the checks of that geometry."""

from __future__ import annotations

import numpy as np

from ..h5 import bias, integers, ints, pair


def check_geometry(layer, what: str) -> None:
    """(C, H, W) shapes, 4-D weights, stride and dilation of at least 1, padding of at least 0."""
    if len(layer.in_shape) != 3 or len(layer.out_shape) != 3 or layer.weight.ndim != 4:
        raise ValueError(
            f"{what} needs (C, H, W) shapes and 4-D weights, got {layer.in_shape} -> "
            f"{layer.out_shape}, weights {layer.weight.shape}"
        )
    if min(layer.weight.shape) < 1:
        raise ValueError(f"weights of shape {layer.weight.shape} have an empty dimension")
    if min(layer.stride) < 1 or min(layer.dilation) < 1 or min(layer.padding) < 0:
        raise ValueError(
            f"stride {layer.stride}, padding {layer.padding}, dilation {layer.dilation}"
        )


def check_shared_kernel(layer, what: str) -> None:
    """A pool's or unpool's one kernel (1, 1, kH, kW), applied to every channel alike."""
    if layer.weight.shape[:2] != (1, 1):
        raise ValueError(
            f"{what} weight of shape {layer.weight.shape}, expected SLAYER's one kernel (1, 1, kH, kW)"
        )
    if layer.groups != 1:
        raise ValueError(f"{what} has groups {layer.groups}; its one kernel takes no groups")


def transposed_hw(h: int, w: int, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple):
    """torch's ``conv_transpose2d`` output (H, W) without output padding (SLAYER sets none)."""
    return tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + 1
        for n, k, s, p, d in zip((h, w), kernel, stride, padding, dilation)
    )


def read_window(ctx, kind: str, needs: str) -> dict:
    """The fields of a ``pool``, ``unpool`` or ``convT`` group, as keyword arguments of the IR Layer (a
    bias, which SLAYER writes only for a convT with a norm, per channel or per neuron as for conv).
    SLAYER's neuron is required (there is no netx default for these kinds); a ``delay`` is refused:
    SLAYER delays each output neuron's spikes by its own learned amount, which no kind here runs."""
    g, read = ctx.group, ctx.read
    if "neuron" not in g:
        raise ValueError(f"{kind} layer without a neuron (SLAYER's {kind} block always has one)")
    if ctx.shape is None:
        raise ValueError(f"the first layer is a {kind} and the file has no input shape")
    if "delay" in g:
        raise ValueError(
            f"its 'delay' field: SLAYER's per-neuron axonal delays on a {kind} are not run "
            f"(netx drops them even on conv)"
        )
    w = integers(read(g, "weight", needs), "weight")
    if w.ndim != 4:
        raise ValueError(f"weight of shape {w.shape}, expected (in, out, kH, kW)")
    if "kernelSize" in g:
        k = pair(read(g, "kernelSize"), "kernelSize")
        if k != w.shape[2:]:
            raise ValueError(f"kernelSize {k} differs from the weight's kernel {w.shape[2:]}")
    out = ints(read(g, "shape", needs), "shape")
    return dict(
        kind=kind,
        index=ctx.index,
        in_shape=ctx.shape,
        out_shape=out,
        bias=bias(g, out, read),
        weight=w,
        stride=pair(read(g, "stride", needs), "stride"),
        padding=pair(read(g, "padding", needs), "padding"),
        dilation=pair(read(g, "dilation", needs), "dilation"),
    )


def write_window(g, layer) -> None:
    g.create_dataset("weight", data=layer.weight)
    g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
    for key in ("stride", "padding", "dilation"):
        g.create_dataset(key, data=np.array(getattr(layer, key), dtype=np.int64))
