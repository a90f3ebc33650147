"""The fast engine's pool synapse: F.conv2d's output, channels-last, and oneDNN's input gradient, bit for
bit (each input pixel takes one product), borders the window grid leaves included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tna_deploy.models import fast_pool


class _Syn:
    def __init__(self, c, kernel, stride=None, padding=(0, 0), dilation=(1, 1)):
        self.weight = torch.zeros(c, 1, *kernel, 1)
        self.stride = tuple(stride or kernel) + (1,)
        self.padding, self.dilation = padding + (0,), dilation + (1,)
        self.groups = c


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (5, 11)])  # 9x7, 5x11: a border no window covers
@pytest.mark.parametrize("kernel", [(2, 2), (3, 2), (1, 3)])
def test_forward_is_conv2d_and_input_gradient_is_onednns(size, kernel):
    g = torch.Generator().manual_seed(size[0] * 10 + kernel[0])
    c = 6
    h = (torch.rand(4, c, *size, generator=g) < 0.3).float()
    h = h.contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, 1, *kernel, generator=g)  # per-channel, per-tap weights
    syn = _Syn(c, kernel)
    h1 = h.clone().requires_grad_(True)
    assert fast_pool.applies(h1, syn)
    z = fast_pool.conv(h1, w, syn)
    h2 = h.clone().requires_grad_(True)
    ref = F.conv2d(h2, w, None, kernel, 0, 1, c)
    assert torch.equal(z, ref) and z.is_contiguous(memory_format=torch.channels_last)
    grad = torch.randn(ref.shape, generator=g).contiguous(memory_format=torch.channels_last)
    z.backward(grad)
    ref.backward(grad)
    assert h1.grad.shape == h2.grad.shape
    assert torch.equal(h1.grad, h2.grad)
    oh, ow = (size[0] // kernel[0]) * kernel[0], (size[1] // kernel[1]) * kernel[1]
    assert not h1.grad[:, :, oh:].any() and not h1.grad[:, :, :, ow:].any()


def test_only_for_fixed_non_overlapping_per_channel_windows():
    h = torch.zeros(2, 4, 8, 8)
    syn = _Syn(4, (2, 2))
    assert fast_pool.applies(h, syn)
    for change in (
        lambda s: setattr(s, "stride", (1, 1, 1)),  # overlapping windows
        lambda s: setattr(s, "padding", (1, 1, 0)),
        lambda s: setattr(s, "dilation", (2, 2, 1)),
        lambda s: setattr(s, "groups", 1),
        lambda s: s.weight.requires_grad_(True),  # a learned weight wants its own gradient
    ):
        other = _Syn(4, (2, 2))
        change(other)
        assert not fast_pool.applies(h, other)
    assert not fast_pool.applies(torch.zeros(2, 3, 8, 8), syn)  # not one tap set per channel
