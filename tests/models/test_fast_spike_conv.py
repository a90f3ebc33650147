"""The fast engine's conv over spikes: its forward equals oneDNN's F.conv2d bit for bit (so stock SLAYER's),
its weight gradient equals oneDNN's to float32 tolerance, and it steps aside where it would not pay or not be exact."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from tna_deploy.engine import cuba_ext
from tna_deploy.models import fast_spike_conv as fsc

pytestmark = pytest.mark.skipif(cuba_ext.get() is None, reason="no C++ build of the fused kernels")

GRAD_RTOL = 1e-5  # |ours - oneDNN's| <= GRAD_RTOL * max|oneDNN's|: float32 sums in another order


class _Syn:
    """The geometry fields of a SLAYER conv synapse that the module reads."""

    def __init__(self, w, padding, dilation=(1, 1), stride=(1, 1), groups=1):
        self.weight = w
        self.padding, self.dilation, self.stride, self.groups = padding, dilation, stride, groups


def _spikes(n, c, size, density, seed, dropout=0.0):
    g = torch.Generator().manual_seed(seed)
    s = (torch.rand(n, c, size, size, generator=g) < density).float()
    if (
        dropout
    ):  # slayer.neuron.Dropout: whole channels of a sample zeroed, the rest scaled by 1/(1-p)
        keep = (torch.rand(n, c, 1, 1, generator=g) >= dropout).float() / (1 - dropout)
        s = s * keep
    return s.contiguous(memory_format=torch.channels_last)


GEOMETRIES = [  # (C, O, kernel, padding, dilation, size)
    (8, 64, 3, 1, 1, 12),
    (16, 72, 3, 1, 1, 9),  # 72 = 64 + 8 output lanes: two chunks, the second of one register
    (32, 128, 3, 0, 1, 10),  # no padding: outputs shrink
    (8, 64, 5, 2, 1, 11),
    (8, 64, 3, 2, 2, 13),  # dilation 2
    (24, 64, 1, 0, 1, 7),
    (64, 136, 3, 1, 1, 5),
]


@pytest.mark.parametrize("c,o,k,pad,dil,size", GEOMETRIES)
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_forward_is_onednns_conv_bit_for_bit(c, o, k, pad, dil, size, dropout):
    """Full-precision weights, where the order of the sums shows in the last bit; dropout-scaled inputs,
    where the multiply-add's single rounding shows."""
    h = _spikes(6, c, size, 0.2, seed=c + o + k, dropout=dropout)
    w = torch.randn(o, c, k, k, generator=torch.Generator().manual_seed(1)) * 0.2
    z = fsc.forward(h, w, (pad, pad), (dil, dil))
    ref = F.conv2d(h, w.contiguous(memory_format=torch.channels_last), None, 1, pad, dil)
    assert z.shape == ref.shape
    assert z.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(z, ref)


@pytest.mark.parametrize(
    "c,o,k,pad,dil,size", GEOMETRIES + [(8, 16, 3, 1, 1, 8), (4, 8, 3, 1, 1, 6)]
)
def test_weight_gradient_is_onednns(c, o, k, pad, dil, size):
    h = _spikes(5, c, size, 0.25, seed=o, dropout=0.2)
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(o, c, k, k, generator=gen) * 0.2
    out = size + 2 * pad - dil * (k - 1)
    grad = torch.randn(5, o, out, out, generator=gen).contiguous(memory_format=torch.channels_last)
    ref_w = torch.ops.aten.convolution_backward(
        grad, h, w, None, [1, 1], [pad, pad], [dil, dil], False, [0, 0], 1, [False, True, False]
    )[1]
    dw = fsc.weight_grad(h, grad, (k, k), (pad, pad), (dil, dil))
    assert dw.shape == ref_w.shape
    assert (dw - ref_w).abs().max() <= GRAD_RTOL * ref_w.abs().max()


def test_weight_gradient_of_inputs_that_never_spike_is_zero():
    h = torch.zeros(3, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(3, 16, 6, 6).contiguous(memory_format=torch.channels_last)
    assert torch.equal(fsc.weight_grad(h, grad, (3, 3), (1, 1), (1, 1)), torch.zeros(16, 8, 3, 3))


def _syn(c=16, o=64, k=3, seed=3):
    w = torch.randn(o, c, k, k, 1, generator=torch.Generator().manual_seed(seed)) * 0.2
    return _Syn(torch.nn.Parameter(w), (1, 1, 0))


def test_conv_autograd_matches_onednns():
    syn = _syn()
    h = _spikes(8, 16, 10, 0.15, seed=5, dropout=0.2).requires_grad_()
    h_ref = h.detach().clone().contiguous(memory_format=torch.channels_last).requires_grad_()
    assert fsc.applies(h, syn, spikes=True)
    z = fsc.conv(h, syn.weight[..., 0], syn)
    w_ref = syn.weight.detach().clone().requires_grad_()
    ref = F.conv2d(h_ref, w_ref[..., 0], None, 1, 1)
    assert torch.equal(z, ref)
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(6))
    (z * g).sum().backward()
    (ref * g).sum().backward()
    for ours, theirs in [(syn.weight.grad, w_ref.grad), (h.grad, h_ref.grad)]:
        assert (ours - theirs).abs().max() <= GRAD_RTOL * theirs.abs().max()


def test_dense_inputs_run_onednns_conv_and_weight_gradient(monkeypatch):
    """Above the measured densities the work over nonzero inputs does not pay: oneDNN runs both."""
    syn = _syn(c=32)
    h = _spikes(4, 32, 8, 0.9, seed=7).requires_grad_()
    called = []
    monkeypatch.setattr(fsc, "forward", lambda *a: called.append("forward"))
    monkeypatch.setattr(fsc, "weight_grad", lambda *a: called.append("wgrad"))
    z = fsc.conv(h, syn.weight[..., 0], syn)
    z.sum().backward()
    assert called == []
    assert syn.weight.grad is not None and h.grad is not None


def test_sparse_inputs_over_many_channels_run_the_gather(monkeypatch):
    syn = _syn(c=32)
    h = _spikes(4, 32, 8, 0.1, seed=8).requires_grad_()
    called = []
    real_forward, real_wgrad = fsc.forward, fsc.weight_grad
    monkeypatch.setattr(fsc, "forward", lambda *a: called.append("forward") or real_forward(*a))
    monkeypatch.setattr(fsc, "weight_grad", lambda *a: called.append("wgrad") or real_wgrad(*a))
    fsc.conv(h, syn.weight[..., 0], syn).sum().backward()
    assert called.count("forward") >= 1 and called[-1] == "wgrad"


def test_a_shape_where_the_sums_differ_runs_onednn_and_says_so(monkeypatch, caplog):
    """Where a build of oneDNN adds in another order, the first forward of that shape finds it out."""
    monkeypatch.setattr(fsc, "_checked", {})
    real_forward = fsc.forward

    def off_by_one_ulp(h, w, padding, dilation):
        z = real_forward(h, w, padding, dilation)
        return torch.nextafter(z, torch.full_like(z, float("inf")))

    monkeypatch.setattr(fsc, "forward", off_by_one_ulp)
    syn = _syn(c=32)
    h = _spikes(4, 32, 8, 0.1, seed=9)
    with caplog.at_level(logging.WARNING, logger=fsc.__name__):
        z = fsc.conv(h, syn.weight[..., 0], syn)
    assert torch.equal(z, F.conv2d(h, syn.weight[..., 0].detach(), None, 1, 1))
    assert "runs oneDNN's conv" in caplog.text
    assert fsc._checked  # decided once for the shape
    caplog.clear()
    fsc.conv(h, syn.weight[..., 0], syn)
    assert caplog.text == ""


@pytest.mark.parametrize(
    "what,kwargs",
    [
        ("a stride of 2", dict(stride=(2, 2, 1))),
        ("groups", dict(groups=2)),
    ],
)
def test_it_steps_aside_for_what_it_does_not_compute(what, kwargs):
    syn = _syn()
    for k, v in kwargs.items():
        setattr(syn, k, v)
    assert not fsc.applies(_spikes(2, 16, 8, 0.1, seed=1), syn, spikes=True), what


def test_few_input_channels_run_onednns_forward_and_the_sparse_weight_gradient(monkeypatch):
    """Below 32 input channels the gather lost at every measured density; the weight gradient still won."""
    syn = _syn(c=8)
    h = _spikes(4, 8, 8, 0.1, seed=7).requires_grad_()
    called = []
    real_wgrad = fsc.weight_grad
    monkeypatch.setattr(fsc, "forward", lambda *a: called.append("forward"))
    monkeypatch.setattr(fsc, "weight_grad", lambda *a: called.append("wgrad") or real_wgrad(*a))
    fsc.conv(h, syn.weight[..., 0], syn).sum().backward()
    assert called == ["wgrad"]


def test_it_steps_aside_for_the_network_input_and_odd_output_counts():
    h = _spikes(2, 16, 8, 0.1, seed=1)
    assert not fsc.applies(h, _syn(), spikes=False)
    assert not fsc.applies(h, _syn(o=12), spikes=True)
    assert not fsc.applies(h.contiguous(), _syn(), spikes=True)  # NCHW: not the engine's layout
