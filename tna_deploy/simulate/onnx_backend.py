"""``simulate --backend onnx``: the network as ONNX through onnxruntime, chunk by chunk.

The model is the .onnx file ``simulate`` was given, or, for a netx file, the same network built in
memory by the ONNX writer. Only onnx, onnxruntime and numpy run here: no Lava, no training stack."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..engine.trace import Trace
from ..errors import ConfigError, FormatError
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


def check_graph(path: str, net: DeployedNet, data: bytes) -> None:
    """A tna-deploy ONNX file carries its network (the IR) in its metadata, and its graph is what the
    writer builds from that network at the file's opset, one of those it writes (``onnx_opsets.py``):
    anything else (an opset it does not write, an IR version changed, a node removed, an input made
    huge, a tensor moved to external data that would make onnxruntime read another file) is refused
    in one line before onnxruntime parses a byte of it."""
    import onnx

    from ..export.onnx_opsets import opset_problem
    from ..export.onnx_writer import OnnxExportError, build_model

    try:
        model = onnx.ModelProto.FromString(data)
    except Exception:  # noqa: BLE001 -- protobuf's DecodeError and friends
        raise FormatError(f"{path}: not a readable ONNX model; re-export it") from None
    opsets = [(o.domain, o.version) for o in model.opset_import]
    opset = opsets[0][1] if len(opsets) == 1 and opsets[0][0] in ("", "ai.onnx") else None
    problem = opset_problem(opset, ()) if opset is not None else f"opsets {opsets}"
    if problem:
        raise FormatError(f"{path}: {problem}; re-export it with tna-deploy export --format onnx")
    try:
        want = build_model(net, opset)
    except OnnxExportError as e:  # an op of the graph missing at the file's opset
        raise FormatError(
            f"{path}: {e}; re-export it with tna-deploy export --format onnx"
        ) from None
    same = (
        model.ir_version == want.ir_version
        and list(model.opset_import) == list(want.opset_import)
        and model.graph == want.graph
    )
    if not same:
        raise FormatError(
            f"{path}: its graph is not the one its tna-deploy metadata describes (an edited or damaged "
            f"file: opset, IR version, nodes, inputs or tensors differ); re-export it with "
            f"tna-deploy export --format onnx"
        )


class OnnxRunner:
    def __init__(self, net: DeployedNet, data: Optional[bytes] = None, path: str = "the ONNX file"):
        if data is None:
            from ..export.onnx_writer import build_model

            data = build_model(net).SerializeToString()
        else:
            check_graph(path, net, data)
        self.net = net
        try:
            self.session = session(data)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 -- onnxruntime's own exception types, one line each
            first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            raise FormatError(f"{path}: onnxruntime cannot run it ({first})") from None
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
