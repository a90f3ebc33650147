"""The integer arithmetic the emulator shares with the ONNX writer and the op counter: when float sums are
exact, and Lava's fixed-point wraps."""

from __future__ import annotations

import torch

F32_EXACT = 1 << 24  # float32 sums of integers are exact while every partial sum stays below this
F64_EXACT = 1 << 53  # the same for float64


def sum_dtype(bound: float) -> torch.dtype:
    """float32 where every sum bounded by ``bound`` is exact in it, else float64 (read at call time, so
    that ``benchmarks/emulator_speed.py`` can set ``F32_EXACT = 0`` to time float64 throughout)."""
    return torch.float32 if bound < F32_EXACT else torch.float64


def signed_clamp24(x: torch.Tensor) -> torch.Tensor:
    """Lava's ``conv.utils.signed_clamp(x, 24)``: wrap modulo 2^24 into [-2^23, 2^23)."""
    return torch.remainder(x + float(1 << 23), float(1 << 24)) - float(1 << 23)


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """numpy's int32 wrap of exact integer sums (float64): two's complement modulo 2^32."""
    return torch.remainder(x + 2.0**31, 2.0**32) - 2.0**31


def lava_conv_out(z: torch.Tensor) -> torch.Tensor:
    """What Lava's ``PyConvModelFixed`` makes of its exact float64 sums: ``astype(int32)`` (a sum outside
    int32 becomes -2^31, which the clamp turns to 0), then ``signed_clamp(x, 24)``."""
    z = torch.where((z >= 2.0**31) | (z < -(2.0**31)), torch.zeros_like(z), z)
    return signed_clamp24(z)


def shift_left6_int32(a: torch.Tensor) -> torch.Tensor:
    """``np.left_shift(a_in, 6)`` on int32: exact below 2^25, two's-complement wrap beyond."""
    a = a * 64.0
    if a.numel() and float(a.abs().max()) >= 2.0**31:
        a = torch.remainder(a + 2.0**31, 2.0**32) - 2.0**31
    return a


def stream(x: torch.Tensor) -> torch.Tensor:
    """(T, K, n) -> (K*T, n): the samples' windows one after another, as Lava runs them."""
    t, k = x.shape[:2]
    return x.transpose(0, 1).reshape(k * t, -1)
