"""Input encoding and augmentation.

The chip receives graded spikes: integers the first layer multiplies by its 8-bit weights.
Static images: the pixel intensity (0..255, shifted down to ``input_bits``) at every one of the T steps.
Event data: the event count per pixel and time bin, clipped to the same range.
The first layer's threshold is scaled by ``input_scale(cfg)`` so that the network sees pixel values in
[0, 1] in effect, while every number it computes with stays an integer on the chip.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def input_scale(cfg, event_data: bool) -> float:
    """The full-scale value of one input; the first layer's threshold is multiplied by it."""
    return 1.0 if event_data else float((1 << cfg.input_bits) - 1)


def encode(x: torch.Tensor, timesteps: int, input_bits: int, event_data: bool) -> torch.Tensor:
    """uint8 batch -> float (N, C, H, W, T) of integers in 0..2^input_bits-1."""
    v = x.to(torch.int32)
    if event_data:
        v = v.clamp(0, (1 << input_bits) - 1)
        return v.to(torch.float32)
    if input_bits < 8:
        v = v >> (8 - input_bits)
    elif input_bits > 8:
        v = v << (input_bits - 8)
    return v.to(torch.float32).unsqueeze(-1).expand(*v.shape, timesteps).contiguous()


def augment(x: torch.Tensor, gen: torch.Generator, event_data: bool) -> torch.Tensor:
    """The paper's training augmentation, drawn from ``gen`` (so a resumed run draws the same)."""
    return _augment_dvs(x, gen) if event_data else _augment_static(x, gen)


def _augment_static(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Pad 4 + random crop back to size + horizontal flip with p = 0.5, per image."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offs = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = int(offs[i, 0]), int(offs[i, 1])
        crop = padded[i, :, dy : dy + h, dx : dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def _augment_dvs(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random rotation in ±30° and random shear in (-30°, 30°), the same for all T frames of a sample."""
    from torchvision.transforms.functional import InterpolationMode, affine

    n, c, h, w, t = x.shape
    angles = (torch.rand(n, generator=gen) * 60 - 30).tolist()
    shears = (torch.rand(n, generator=gen) * 60 - 30).tolist()
    out = torch.empty_like(x)
    for i in range(n):
        frames = x[i].permute(3, 0, 1, 2)  # (T, C, H, W)
        frames = affine(
            frames,
            angle=angles[i],
            translate=[0, 0],
            scale=1.0,
            shear=[shears[i], 0.0],
            interpolation=InterpolationMode.NEAREST,
        )
        out[i] = frames.permute(1, 2, 3, 0)
    return out


def n_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)
