"""The fast engine's first convolution: F.conv2d's output, channels-last, and its weight gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tna_deploy.models import fast_input_conv

GEOMETRIES = [  # in_channels, kernel, stride, padding, dilation
    (1, (3, 3), (1, 1), (1, 1), (1, 1)),
    (3, (3, 3), (1, 1), (1, 1), (1, 1)),
    (2, (5, 3), (2, 1), (2, 0), (1, 2)),
    (1, (2, 2), (2, 2), (0, 0), (1, 1)),
]


class _Syn:
    def __init__(self, cin, cout, kernel, stride, padding, dilation):
        self.weight = torch.zeros(cout, cin, *kernel, 1)
        self.stride, self.padding, self.dilation = stride + (1,), padding + (0,), dilation + (1,)
        self.groups = 1


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_unfold_is_torch_unfold(geometry):
    cin, kernel, stride, padding, dilation = geometry
    h = torch.randn(4, cin, 11, 9)
    ours = fast_input_conv.unfold(h, kernel, (stride, padding, dilation))
    ref = F.unfold(h, kernel, dilation, padding, stride)  # (N, C*kh*kw, L)
    assert torch.equal(ours, ref.permute(1, 0, 2).reshape(ref.shape[1], -1))


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_forward_is_conv2d_and_gradient_is_its_weight_gradient(geometry):
    cin, kernel, stride, padding, dilation = geometry
    g = torch.Generator().manual_seed(cin)
    h = torch.randint(0, 16, (6, cin, 12, 10), generator=g).float()
    w = torch.randn(5, cin, *kernel, generator=g)
    syn = _Syn(cin, 5, kernel, stride, padding, dilation)
    assert fast_input_conv.applies(h, syn)
    w1 = w.clone().requires_grad_(True)
    z = fast_input_conv.conv(h, w1, syn)
    w2 = w.clone().requires_grad_(True)
    ref = F.conv2d(h, w2, None, stride, padding, dilation)
    assert torch.equal(z, ref) and z.is_contiguous(memory_format=torch.channels_last)
    grad = torch.randn(ref.shape, generator=g)
    z.backward(grad.contiguous(memory_format=torch.channels_last))
    ref.backward(grad)
    assert (w1.grad - w2.grad).abs().max() <= 1e-5 * w2.grad.abs().max()


def test_only_for_an_input_without_gradient_on_cpu():
    syn = _Syn(1, 4, (3, 3), (1, 1), (1, 1), (1, 1))
    h = torch.zeros(2, 1, 8, 8)
    assert fast_input_conv.applies(h, syn)
    assert not fast_input_conv.applies(h.clone().requires_grad_(True), syn)
    syn.groups = 2
    assert not fast_input_conv.applies(h, syn)
