"""The fused C++ backward of the fast engine's CUBA neuron computes SLAYER's gradients: the leaky-integrator
filters bit for bit, the surrogate to float32 rounding of exp; and it agrees with the portable torch version."""

from __future__ import annotations

import pytest
import torch

from tna_deploy.engine import cuba_backward as cb
from tna_deploy.engine import cuba_ext

fused = pytest.mark.skipif(
    cuba_ext.get() is None, reason="no C++ compiler: the portable backward runs alone"
)

DECAYS = [(4096, 1024), (2048, 1024), (0, 0), (1234, 77), (4096, 4096), (2048, 4096)]  # i, v
SURROGATE = cb.Surrogate(theta=1.25 + 0.01 / 4096, tau=5.0, scale=0.3)


def _case(shape=(5, 3, 7, 11), seed=0):
    g = torch.Generator().manual_seed(seed)
    # SLAYER's float32 voltage (state units / 4096) around the threshold
    voltage = torch.randint(-9000, 12000, shape, generator=g).float() / 4096
    grad = torch.randn(shape, generator=g)
    return voltage, grad


def _slayer(voltage, grad, surrogate, i_decay, v_decay):
    """lava-dl's own functions on SLAYER's (..., T) layout, back to time-major."""
    from lava.lib.dl.slayer.neuron.dynamics.leaky_integrator import _li_dynamics_bwd
    from lava.lib.dl.slayer.spike.spike import _spike_backward

    g = grad.movedim(0, -1)
    if surrogate is not None:
        v = voltage.movedim(0, -1)
        f32 = torch.float32
        g = (
            _spike_backward(
                v,
                torch.tensor(surrogate.theta, dtype=f32),
                torch.tensor(surrogate.tau, dtype=f32),
                torch.tensor(surrogate.scale, dtype=f32),
            )
            * g
        )
    for d in (v_decay, i_decay):  # the voltage filter first, then the current's
        g, _ = _li_dynamics_bwd(g, torch.zeros_like(g), torch.tensor([float(d)]))
    return g.movedim(-1, 0)


@fused
@pytest.mark.slayer
@pytest.mark.parametrize("decays", DECAYS)
def test_filters_are_slayers_bit_for_bit(decays):
    """The read-out's backward (no surrogate): exactly SLAYER's float32 multiply, then add."""
    _, grad = _case(seed=decays[0])
    out = cb.backward(None, grad, None, *decays)
    assert torch.equal(out, _slayer(None, grad, None, *decays))


@fused
@pytest.mark.slayer
@pytest.mark.parametrize("decays", DECAYS)
def test_surrogate_and_filters_match_slayer(decays):
    voltage, grad = _case(seed=decays[1])
    ref = _slayer(voltage, grad, SURROGATE, *decays)
    out = cb.backward(voltage.clone(), grad, SURROGATE, *decays)
    assert ref.abs().max() > 0
    assert (out - ref).abs().max() <= 1e-6 * ref.abs().max()


@fused
@pytest.mark.parametrize("decays", DECAYS)
@pytest.mark.parametrize("surrogate", [SURROGATE, None], ids=["spike", "readout"])
def test_fused_agrees_with_the_torch_fallback(decays, surrogate):
    voltage, grad = _case(shape=(6, 2, 5, 5, 9), seed=7)
    ref = cb.backward_torch(voltage.clone(), grad.clone(), surrogate, *decays)
    v = voltage.clone()
    out = cb.backward(v, grad, surrogate, *decays)
    assert (out - ref).abs().max() <= 1e-6 * ref.abs().max()
    if surrogate is not None:  # written over the saved voltage, as the torch version does
        assert out.data_ptr() == v.data_ptr()


@fused
def test_non_contiguous_gradient():
    """A gradient in another memory layout (as after a flatten of channels-last maps) gives the same result."""
    voltage, grad = _case(shape=(5, 4, 6, 7))
    strided = grad.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)
    assert not strided.is_contiguous()
    a = cb.backward(voltage.clone(), grad, SURROGATE, 4096, 1024)
    b = cb.backward(voltage.clone(), strided, SURROGATE, 4096, 1024)
    assert torch.equal(a, b)


@fused
def test_surrogate_exp_within_two_ulp():
    """The C++ exp, over the whole range the surrogate reaches (down to where float32 underflows)."""
    x = -torch.linspace(0, 110, 400_001)
    # scale / 2 / tau = 1: the surrogate is exp(-|v|)
    one = cb.Surrogate(theta=0.0, tau=1.0, scale=2.0)
    out = cb.backward(x.clone().reshape(1, -1), torch.ones(1, x.numel()), one, 4096, 4096)
    exact = torch.exp(x.double()).reshape(1, -1)
    normal = exact >= torch.finfo(torch.float32).tiny
    rel = (out.double() - exact).abs() / exact
    assert float(rel[normal].max()) <= 2 * 2.0**-24
    assert float((out.double() - exact)[~normal].abs().max()) <= 2.0**-149  # subnormals: one step


def test_without_the_build_the_torch_version_runs(monkeypatch):
    voltage, grad = _case()
    ref = cb.backward_torch(voltage.clone(), grad.clone(), SURROGATE, 4096, 1024)
    monkeypatch.setattr(cuba_ext, "get", lambda: None)
    assert torch.equal(cb.backward(voltage.clone(), grad, SURROGATE, 4096, 1024), ref)
