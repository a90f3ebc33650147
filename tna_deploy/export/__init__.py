"""Exporters: each a function that lazily imports its library. ``to_netx`` writes lava-dl netx HDF5."""

from .netx import ExportResult, NetxMeta, read_meta, to_netx

__all__ = ["ExportResult", "NetxMeta", "read_meta", "to_netx"]
