"""``simulate --run``: the run's PyTorch base as exported, run on the same chunks as the chip models.

Its spikes come out (K, *shape, T) as every source's, laid out in memory per sample and time-major in the
model's own frame ((K, T, H, W, C) for a channels-last conv), converted to uint8 in the same pass
(``engine.rasters.batch_major``: one cast that moves whole frames), the memory order the emulator hands
out too, so the comparison reads both in one order."""

from __future__ import annotations

import numpy as np

from ..engine.trace import Trace
from ..errors import ConfigError
from ..ir import DeployedNet


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

        from ..engine.rasters import batch_major

        with torch.no_grad():
            logits, trace = self.net(torch.from_numpy(x.astype(np.float32)), return_trace=True)
            layers = [t for info, t in zip(self.net.info, trace) if info.kind != "flatten"][:-1]
            del trace
            spikes = []
            for i in range(len(layers)):
                t = layers[i]  # (K, *shape, T): to (T, K, *shape), then per sample time-major
                spikes.append(batch_major(t.permute(t.ndim - 1, *range(t.ndim - 1)), torch.uint8))
                layers[i] = None  # each layer's float32 trace goes as soon as it is converted
        return Trace(spikes, logits.numpy().astype(np.float64))
