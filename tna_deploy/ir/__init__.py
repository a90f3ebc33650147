"""The deployment IR (``DeployedNet``), its netx HDF5 reader and writer, and ``read_model`` for any
file ``simulate`` and ``report`` take (netx, or a tna-deploy ONNX export)."""

from .net import DenseWeights, DeployedNet, Layer, Neuron, dense_weight_bits  # noqa: F401
from .netx import NetxFormatError, read_netx, write_netx  # noqa: F401


def read_model(path: str) -> DeployedNet:
    """The IR of a netx file, or of a tna-deploy ONNX export (by its .onnx suffix)."""
    from .onnx_model import is_onnx, read_onnx

    return read_onnx(path)[0] if is_onnx(path) else read_netx(path)
