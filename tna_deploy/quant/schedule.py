"""Delayed compression (paper §4.2): full precision first, ternary/binary from a set epoch on."""

from __future__ import annotations

from typing import Optional


def compression_active(epoch: int, quantize_epoch: Optional[int]) -> bool:
    """True when the base's middle layers are compressed during ``epoch`` (0-based)."""
    return quantize_epoch is not None and epoch >= quantize_epoch
