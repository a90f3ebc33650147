"""``simulate --run``: the run's PyTorch base as exported, run on the same chunks as the chip models.

Its spikes come out (K, *shape, T) as every source's, laid out in memory time-major per sample in the
model's own frame ((K, T, H, W, C) for a channels-last conv, as the emulator's fused path hands out its
spikes; ``layout``), converted to uint8 in the same pass: one cast that moves whole (H, W, C) frames."""

from __future__ import annotations

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

    def __call__(self, x: np.ndarray) -> Trace:
        """``x`` (K, *input_shape, T)."""
        import torch

        with torch.no_grad():
            logits, trace = self.net(torch.from_numpy(x.astype(np.float32)), return_trace=True)
            layers = [t for info, t in zip(self.net.info, trace) if info.kind != "flatten"][:-1]
            del trace
            spikes = []
            for i in range(len(layers)):
                spikes.append(as_uint8(layers[i], per_sample(layers[i])))
                layers[i] = None  # each layer's float32 trace goes as soon as it is converted
        return Trace(spikes, logits.numpy().astype(np.float64))


def per_sample(t) -> tuple:
    """The memory order of ``t`` (K, *shape, T) with the sample axis first: (T, K, H, W, C) memory
    becomes (K, T, H, W, C)."""
    order = memory_order(t.numpy())
    return (0, *(i for i in order if i != 0))


def as_uint8(t, order: tuple) -> np.ndarray:
    """The spikes ``t`` (K, *shape, T) as uint8 of the same shape, laid out in memory in ``order`` (one
    pass: the cast and the transpose together)."""
    import torch

    out = torch.empty([t.shape[o] for o in order], dtype=torch.uint8)
    out.copy_(t.permute(order))
    return out.numpy().transpose(inverse(order))
