"""``simulate --backend onnx``: the network as ONNX through onnxruntime, chunk by chunk.

The model is the .onnx file ``simulate`` was given, or, for a netx file, the same network built in
memory by the ONNX writer. Only onnx, onnxruntime and numpy run here: no Lava, no training stack."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..engine.trace import Trace
from ..errors import ConfigError
from ..ir import DeployedNet


def session(data: bytes):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(
            "--backend onnx needs onnxruntime: pip install 'tna-deploy[onnx]'"
        ) from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


class OnnxRunner:
    def __init__(self, net: DeployedNet, data: Optional[bytes] = None):
        if data is None:
            from ..export.onnx_writer import build_model

            data = build_model(net).SerializeToString()
        self.net = net
        self.session = session(data)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.top = (1 << net.input_bits) - 1

    def run(self, x: np.ndarray) -> Trace:
        if x.shape[-1] != self.net.timesteps:
            raise ConfigError(
                f"the ONNX model runs {self.net.timesteps} timesteps a sample, the input has "
                f"{x.shape[-1]}"
            )
        graded = self.net.input_bits and not self.net.input_neuron
        if graded and x.size and (int(x.min()) < 0 or int(x.max()) > self.top):
            raise ConfigError(
                f"input values {int(x.min())}..{int(x.max())} exceed the ONNX model's "
                f"{self.net.input_bits}-bit unsigned input (0..{self.top})"
            )
        out = self.session.run(self.outputs, {"spikes": np.ascontiguousarray(x, dtype=np.int32)})
        return Trace(list(out[1:]), out[0].astype(np.float64))
