"""The deployment IR (``DeployedNet``), its netx HDF5 reader and writer, and ``read_model`` for any
file ``simulate`` and ``report`` take (netx, or a tna-deploy ONNX export). A leaf: it imports nothing
from training, data, models, quantization or the stages; they all read and write it."""

from .layers import DenseWeights, dense_weight_bits  # noqa: F401
from .meta import NetxMeta  # noqa: F401
from .net import DeployedNet, Layer, Neuron  # noqa: F401
from .netx import NetxFormatError, read_netx, write_netx  # noqa: F401


def read_model(path: str) -> DeployedNet:
    """The IR of a netx file, or of a tna-deploy ONNX export (by its .onnx suffix)."""
    from .onnx_model import is_onnx, read_onnx

    return read_onnx(path)[0] if is_onnx(path) else read_netx(path)
