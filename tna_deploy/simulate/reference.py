"""``simulate --run``: the run's PyTorch base as exported, run on the same chunks as the chip models.

Its spikes come out (K, *shape, T) as every source's, laid out in memory as the chip's spikes of the same
chunk are (``layout``: the emulator's fused path (K, T, H, W, C)), converted to uint8 in the same pass,
so that comparing and counting them walk both in one order."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..engine.trace import Trace
from ..errors import ConfigError
from ..ir import DeployedNet
from .layout import inverse, memory_order


class TorchReference:
    """Per chunk: the spikes of every layer but the read-out, and the logits."""

    def __init__(self, run_dir: str, net: DeployedNet):
        from ..models.chip import prepare_for_chip
        from ..train.runs import load_run

        run = load_run(run_dir, with_twins=False)
        self.net, _ = prepare_for_chip(run)
        modes = [
            q.mode for info, q in zip(self.net.info, self.net.quantizers) if info.kind != "flatten"
        ]
        want = [layer.mode for layer in net.compute_layers]
        if modes != want:
            raise ConfigError(
                f"--run {run_dir} does not match the file: its layers compute in modes {modes}, "
                f"the file's in {want}; re-export the run"
            )

    def __call__(self, x: np.ndarray, like: Optional[list] = None) -> Trace:
        """``x`` (K, *input_shape, T); ``like``: the chip's spikes of the same chunk, whose memory order
        each layer's spikes take (without it: time-major per sample, (K, T, *shape))."""
        import torch

        with torch.no_grad():
            logits, trace = self.net(torch.from_numpy(x.astype(np.float32)), return_trace=True)
            layers = [t for info, t in zip(self.net.info, trace) if info.kind != "flatten"][:-1]
            del trace
            spikes = []
            for i in range(len(layers)):
                order = (
                    memory_order(like[i])
                    if like is not None and i < len(like)
                    else time_major(layers[i].ndim)
                )
                spikes.append(as_uint8(layers[i], order))
                layers[i] = None  # each layer's float32 trace goes as soon as it is converted
        return Trace(spikes, logits.numpy().astype(np.float64))


def time_major(ndim: int) -> tuple:
    """(K, *shape, T) -> (K, T, *shape)."""
    return (0, ndim - 1, *range(1, ndim - 1))


def as_uint8(t, order: tuple) -> np.ndarray:
    """The spikes ``t`` (K, *shape, T) as uint8 of the same shape, laid out in memory in ``order`` (one
    pass: the cast and the transpose together)."""
    import torch

    out = torch.empty([t.shape[o] for o in order], dtype=torch.uint8)
    out.copy_(t.permute(order))
    return out.numpy().transpose(inverse(order))
