"""The fast engine's first convolution: F.conv2d's output bit for bit (the C++ forward where it pays, checked
per shape), channels-last, and its weight gradient."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from tna_deploy.engine import cuba_ext
from tna_deploy.models import fast_input_conv
from tna_deploy.models import fast_spike_conv as fsc

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


DENSE = [  # in_channels, out_channels, kernel, stride, padding, dilation, size (H, W)
    (1, 32, (3, 3), (1, 1), (1, 1), (1, 1), (28, 28)),
    (
        1,
        40,
        (3, 3),
        (1, 1),
        (1, 1),
        (1, 1),
        (13, 11),
    ),  # 32 + 8 lanes; an odd row: a lone last pixel
    (1, 64, (5, 5), (2, 2), (2, 2), (1, 1), (15, 17)),
    (2, 72, (5, 3), (2, 1), (2, 0), (1, 2), (12, 10)),
    (3, 32, (3, 3), (1, 1), (0, 0), (1, 1), (9, 9)),  # no padding: every window inside
    (1, 32, (2, 2), (2, 2), (0, 0), (1, 1), (8, 8)),
    (1, 32, (3, 3), (1, 1), (3, 3), (2, 2), (6, 7)),  # more padding than input: border-only windows
]


@pytest.mark.skipif(cuba_ext.get() is None, reason="no C++ build of the fused kernels")
@pytest.mark.parametrize("geometry", DENSE)
def test_dense_forward_is_conv2d_bit_for_bit(geometry, monkeypatch):
    """Full-precision weights on 4-bit pixels (some zero), where the order of the sums shows in the last
    bit; the engine's forward takes the C++ path on these shapes."""
    cin, cout, kernel, stride, padding, dilation, size = geometry
    g = torch.Generator().manual_seed(cout + cin)
    h = torch.randint(0, 16, (7, cin, *size), generator=g).float()
    h = h * (torch.rand(h.shape, generator=g) < 0.6)
    w = torch.randn(cout, cin, *kernel, generator=g) * 0.2
    geo = (stride, padding, dilation)
    ours = fast_input_conv.dense(h, w, geo)
    ref = F.conv2d(h, w, None, stride, padding, dilation)
    assert torch.equal(ours, ref) and ours.is_contiguous(memory_format=torch.channels_last)
    calls = []
    real = fast_input_conv.dense
    monkeypatch.setattr(fast_input_conv, "dense", lambda *a: calls.append(1) or real(*a))
    z = fast_input_conv.conv(h, w, _Syn(cin, cout, kernel, stride, padding, dilation))
    assert torch.equal(z, ref) and calls


@pytest.mark.skipif(cuba_ext.get() is None, reason="no C++ build of the fused kernels")
def test_a_shape_whose_sums_differ_runs_onednn(monkeypatch, caplog):
    """The per-shape check: a C++ forward that differs from oneDNN's is found on first use, logged, and
    oneDNN's conv answers from then on."""
    h = torch.randint(0, 16, (3, 1, 10, 10)).float()
    w = torch.randn(32, 1, 3, 3)
    syn = _Syn(1, 32, (3, 3), (1, 1), (1, 1), (1, 1))
    real = fast_input_conv.dense
    monkeypatch.setattr(fast_input_conv, "dense", lambda h, w, geo: real(h, w, geo) + 1e-3)
    monkeypatch.setattr(fsc, "_checked", {})
    with caplog.at_level(logging.WARNING):
        z = fast_input_conv.conv(h, w, syn)
        z2 = fast_input_conv.conv(h, w, syn)
    assert torch.equal(z, F.conv2d(h, w, None, 1, 1)) and torch.equal(z2, z)
    assert sum("input conv's sums differ" in r.message for r in caplog.records) == 1


def test_few_output_channels_run_onednn(monkeypatch):
    """Below DENSE_MIN_OUT outputs oneDNN's conv is faster (benchmarks/results/input_conv.json)."""
    h = torch.randint(0, 16, (3, 1, 10, 10)).float()
    w = torch.randn(16, 1, 3, 3)
    monkeypatch.setattr(fast_input_conv, "dense", lambda *a: pytest.fail("the C++ forward ran"))
    z = fast_input_conv.conv(h, w, _Syn(1, 16, (3, 3), (1, 1), (1, 1), (1, 1)))
    assert torch.equal(z, F.conv2d(h, w, None, 1, 1))
