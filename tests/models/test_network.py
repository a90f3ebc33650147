import pytest
import torch
from helpers import TINY_ARCH

from tna_deploy.models import build_network
from tna_deploy.train.config import TrainConfig
from tna_deploy.train.runs import ModelMeta, make_networks


def _meta():
    return ModelMeta((1, 28, 28), 10, 255.0, False)


@pytest.mark.slayer
def test_layout_and_roles():
    net = build_network(TrainConfig(arch=TINY_ARCH), (1, 28, 28), 10, 255.0)
    assert [(i.kind, i.role) for i in net.info] == [
        ("conv", "first"),
        ("pool", "fixed"),
        ("flatten", "none"),
        ("dense", "middle"),
        ("output", "last"),
    ]
    x = torch.randint(0, 256, (2, 1, 28, 28, 3)).float()
    logits, trace = net(x, return_trace=True)
    assert logits.shape == (2, 10) and len(trace) == 5
    spikes = trace[0]
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.slayer
def test_first_and_last_layers_are_8bit_middle_compresses_late():
    net = build_network(TrainConfig(arch="4C3-8C3-AP2-8FC"), (1, 28, 28), 10, 255.0)
    middle = [k for k, i in enumerate(net.info) if i.role == "middle"]
    assert not net.compressed
    assert net.quantized_weight(middle[0]).unique().numel() > 3  # full precision before compression
    net.set_compression(True)
    assert net.compressed
    for k in middle:
        ints = net.quantized_weight(k)
        assert ints.unique().numel() == 3 and torch.equal(ints, ints.round())
    for k in (0, len(net.info) - 1):
        ints = net.quantized_weight(k)
        assert torch.equal(ints, ints.round()) and ints.min() >= -256 and ints.max() <= 254
        assert bool((ints % 2 == 0).all())  # SLAYER's 8-bit grid: even integers


@pytest.mark.slayer
def test_twin_is_full_precision_and_independent():
    cfg = TrainConfig(arch=TINY_ARCH, method="tna", twins=2)
    torch.manual_seed(0)
    base, twins = make_networks(cfg, _meta())
    assert len(twins) == 2
    for t in twins:
        assert all(q is None or q.mode == "fp" for q in t.quantizers)
        t.set_compression(True)
        assert not t.compressed
    w_base = base.blocks[0].synapse.weight
    assert not torch.equal(w_base, twins[0].blocks[0].synapse.weight)
    assert not torch.equal(twins[0].blocks[0].synapse.weight, twins[1].blocks[0].synapse.weight)
    assert w_base.data_ptr() != twins[0].blocks[0].synapse.weight.data_ptr()


@pytest.mark.slayer
def test_pool_weights_are_fixed():
    net = build_network(TrainConfig(arch=TINY_ARCH), (1, 28, 28), 10, 255.0)
    pool = net.blocks[1]
    assert not pool.synapse.weight.requires_grad
    assert net.quantized_weight(1).unique().tolist() == [65.0]  # threshold 64 + 1: any spike fires
