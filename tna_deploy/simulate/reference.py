"""``simulate --run``: the run's PyTorch base as exported, run on the same chunks as the chip models."""

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
        import torch

        with torch.no_grad():
            logits, trace = self.net(torch.from_numpy(x.astype(np.float32)), return_trace=True)
        spikes = [
            t.numpy().astype(np.uint8)
            for info, t in zip(self.net.info, trace)
            if info.kind != "flatten"
        ]
        return Trace(spikes[:-1], logits.numpy().astype(np.float64))
