"""Read a tna-deploy ONNX file back into the IR (and its bytes, for onnxruntime).

The file keeps the IR's structure as JSON in its metadata (``tna_deploy.ir``) and every integer array
as an initializer (``tna_deploy.arrays`` names it and its power-of-two shift), so reading gives the very
``DeployedNet`` it was written from. Nothing here runs code from the file: protobuf parsing only,
external data (paths a crafted file could point anywhere) is refused, sizes are checked before use.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import TnaError, version_problem
from .net import DeployedNet
from .serial import rebuild

FORMAT = "tna-deploy-onnx"
FORMAT_VERSION = 1
MAX_BYTES = 2 << 30  # protobuf's own limit


class OnnxFormatError(TnaError):
    """An ONNX file that is not a readable tna-deploy export."""


def is_onnx(path: str) -> bool:
    return path.lower().endswith(".onnx")


def read_onnx(path: str) -> tuple[DeployedNet, bytes]:
    """The IR of a tna-deploy ONNX file and the file's bytes; one-line ``OnnxFormatError`` otherwise."""
    if not os.path.isfile(path):
        raise OnnxFormatError(
            f"{path}: no such file; write one with tna-deploy export RUN --format onnx"
        )
    if os.path.getsize(path) > MAX_BYTES:
        raise OnnxFormatError(f"{path}: larger than 2 GiB, which no ONNX protobuf can be")
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise OnnxFormatError(
            "reading ONNX files needs the onnx package: pip install 'tna-deploy[onnx]'"
        ) from None
    with open(path, "rb") as f:
        data = f.read()
    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends: the file is not a model
        raise OnnxFormatError(
            f"{path}: not a readable ONNX model ({type(e).__name__}); "
            f"re-export it with tna-deploy export RUN --format onnx"
        ) from None
    props = {p.key: p.value for p in model.metadata_props}
    if props.get("tna_deploy.format") != FORMAT:
        raise OnnxFormatError(
            f"{path}: not a tna-deploy ONNX export (no {FORMAT} metadata); "
            f"write one with tna-deploy export RUN --format onnx"
        )
    version = props.get("tna_deploy.format_version")
    problem = version_problem(
        int(version) if isinstance(version, str) and version.isdigit() else version,
        FORMAT_VERSION,
        "tna-deploy ONNX format",
        "re-export it with tna-deploy export RUN --format onnx",
    )
    if problem:
        raise OnnxFormatError(f"{path}: {problem}")
    try:
        doc = json.loads(props.get("tna_deploy.ir", ""))
        table = json.loads(props.get("tna_deploy.arrays", ""))
        if not isinstance(table, dict):
            raise ValueError("the array table is not an object")
        inits = {t.name: t for t in model.graph.initializer}
        arrays = {}
        for name, entry in table.items():
            if not isinstance(entry, dict) or entry.get("initializer") not in inits:
                raise ValueError(f"array {name!r} names no initializer of the graph")
            tensor = inits[entry["initializer"]]
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                raise ValueError(
                    f"initializer {tensor.name!r} points to external data; tna-deploy writes none"
                )
            shift = entry.get("shift")
            if not isinstance(shift, int) or not 0 <= shift <= 16:
                raise ValueError(f"array {name!r} has shift {shift!r}, not 0..16")
            values = numpy_helper.to_array(tensor)
            if not np.issubdtype(values.dtype, np.integer):
                raise ValueError(f"initializer {tensor.name!r} holds {values.dtype}, not integers")
            arrays[name] = values.astype(np.int64) << shift
        net = rebuild(doc, arrays)
    except (ValueError, TypeError, KeyError) as e:
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise OnnxFormatError(
            f"{path}: {msg}; re-export it with tna-deploy export RUN --format onnx"
        ) from None
    return net, data
