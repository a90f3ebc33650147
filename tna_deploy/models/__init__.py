"""SLAYER-block spiking networks built from architecture strings."""

from .arch import LayerSpec, parse_arch, scale_arch
from .network import SpikingNet, build_network

__all__ = ["LayerSpec", "parse_arch", "scale_arch", "SpikingNet", "build_network"]
