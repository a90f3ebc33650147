import pytest
import torch

from tna_deploy.quant.quantizers import W_SCALE, WeightQuantizer
from tna_deploy.quant.schedule import compression_active


def test_ternary_levels_threshold_and_descale():
    w = torch.tensor([-1.0, -0.5, -0.05, 0.0, 0.09, 0.2, 0.8])
    q = WeightQuantizer("ternary", delta=0.1)
    out = q(w)
    # |w| <= 0.1 * max|w| = 0.1 -> 0; the level is mean |kept| = (1+.5+.2+.8)/4 = 0.625 -> 40/64
    assert torch.equal(out, torch.tensor([-40, -40, 0, 0, 0, 40, 40]) / 64)
    ints = q(w, descale=True)
    assert torch.equal(ints, torch.tensor([-40.0, -40, 0, 0, 0, 40, 40]))
    assert torch.equal(ints, ints.round())


def test_binary_levels():
    w = torch.tensor([-0.3, 0.0, 0.1, 0.5])
    out = WeightQuantizer("binary")(w, descale=True)
    assert set(out.tolist()) == {-14.0, 14.0}  # mean |w| = 0.225 -> round(14.4) = 14


def test_straight_through_gradient():
    for mode in ("ternary", "binary", "int8"):
        w = torch.randn(50, requires_grad=True)
        g = torch.randn(50)
        (WeightQuantizer(mode)(w) * g).sum().backward()
        assert torch.equal(w.grad, g), mode


@pytest.mark.slayer
def test_int8_equals_slayer_quantize_8bit():
    import lava.lib.dl.slayer as slayer

    neuron = slayer.neuron.cuba.Neuron(threshold=1.0, current_decay=1.0, voltage_decay=0.1)
    w = torch.randn(1000) * 3
    assert torch.equal(WeightQuantizer("int8")(w), neuron.quantize_8bit(w))
    assert torch.equal(
        WeightQuantizer("int8")(w, descale=True), neuron.quantize_8bit(w, descale=True)
    )


def test_fp_is_identity_and_descale_scales():
    w = torch.randn(10)
    assert torch.equal(WeightQuantizer("fp")(w), w)
    assert torch.allclose(WeightQuantizer("fp")(w, descale=True), w * W_SCALE)


def test_delayed_schedule():
    assert [compression_active(e, 2) for e in range(4)] == [False, False, True, True]
    assert not any(compression_active(e, None) for e in range(4))
