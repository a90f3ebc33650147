"""The deployment IR (``DeployedNet``) and its netx HDF5 reader and writer."""
from .net import DeployedNet, DenseWeights, Layer, Neuron, dense_weight_bits  # noqa: F401
from .netx import NetxFormatError, read_netx, write_netx  # noqa: F401
