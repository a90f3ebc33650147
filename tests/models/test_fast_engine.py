"""The fast engine computes what stock lava-dl SLAYER computes: spikes and logits bit for bit, gradients
to float32 tolerance, on every block kind and weight mode."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from tna_deploy.engine.cuba import SLAYER, cuba_run
from tna_deploy.models.network import build_network
from tna_deploy.train.config import TrainConfig

# Gradients: |fast - slayer| <= GRAD_RTOL * max|slayer| per parameter tensor. The two differ only in
# float32 summation order (conv2d over T*N images vs conv3d; SLAYER's exact surrogate expression is kept).
GRAD_RTOL = 1e-4
FMNIST = os.environ.get("TNA_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def _net(role="base", middle=None, arch="4C3-AP2-6C3-8FC", **cfg):
    mode = middle or "ternary"
    c = TrainConfig(
        arch=arch,
        width=1.0,
        weights=mode,
        epochs=2,
        quantize_epoch=None if mode == "fp" else 0,
        dropout=0.0,
        **cfg,
    )
    torch.manual_seed(3)
    net = build_network(c, (1, 12, 12), 10, 15.0, role=role)
    if middle:
        net.set_compression(True)
    return net


def _both(net, x):
    net.engine = "slayer"
    ref = net(x, return_trace=True)
    net.engine = "fast"
    out = net(x, return_trace=True)
    return ref, out


def _assert_same_forward(net, x):
    (l1, t1), (l2, t2) = _both(net, x)
    assert len(t1) == len(t2) == len(net.blocks)
    for info, a, b in zip(net.info, t1, t2):
        assert a.shape == b.shape, info.name
        assert torch.equal(a, b), f"{info.name}: {int((a != b).sum())} values differ"
    assert torch.equal(l1, l2)


def _inputs(n, t, seed=0, high=16, size=12):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, (n, 1, size, size, t), generator=g).float()


@pytest.mark.slayer
@pytest.mark.parametrize("middle", ["ternary", "binary", "fp"])
@pytest.mark.parametrize("role", ["base", "twin"])
def test_forward_bit_identical_per_weight_mode(middle, role):
    """int8 edges + ternary/binary/fp middle (base), fp everywhere (twin): conv, pool, dense, read-out."""
    net = _net(role=role, middle=middle if role == "base" else None)
    _assert_same_forward(net, _inputs(6, 5))


SPIKE_CONV_ARCH = "8C3-64C3-AP2-64C3-16FC"  # convs of 64 outputs over spikes: the gather forward


@pytest.mark.slayer
@pytest.mark.parametrize("middle", ["ternary", "fp"])
@pytest.mark.parametrize("role", ["base", "twin"])
def test_forward_bit_identical_through_the_spike_conv(middle, role, monkeypatch):
    """The convs over spikes run the gather (counted), and still give SLAYER's spikes bit for bit."""
    from tna_deploy.models import fast_spike_conv

    runs = []
    real = fast_spike_conv.forward
    monkeypatch.setattr(fast_spike_conv, "forward", lambda *a: runs.append(1) or real(*a))
    net = _net(
        role=role, middle=middle if role == "base" else None, arch=SPIKE_CONV_ARCH, threshold=2.0
    )
    _assert_same_forward(net, _inputs(6, 5))
    assert runs, "the gather never ran"


@pytest.mark.slayer
@pytest.mark.parametrize("steps", [1, 2, 3, 5, 8])
def test_forward_bit_identical_over_timesteps(steps):
    _assert_same_forward(_net(middle="ternary"), _inputs(4, steps, seed=steps))


@pytest.mark.slayer
@pytest.mark.parametrize(
    "neuron",
    [
        dict(current_decay=0.5),
        dict(current_decay=0.0, voltage_decay=0.1),
        dict(threshold=0.5),
        dict(threshold=1.7, voltage_decay=0.9),
    ],
)
def test_forward_bit_identical_neuron_settings(neuron):
    """Current decay below 1 (u integrates), zero decay, thresholds other than 1."""
    _assert_same_forward(_net(middle="ternary", **neuron), _inputs(4, 6, seed=1))


@pytest.mark.slayer
def test_forward_bit_identical_with_large_voltages():
    """Currents and voltages far past 2^24 state units: the float32 hand-over and spike test of SLAYER."""
    net = _net(middle="binary", current_decay=0.0, voltage_decay=0.0, threshold=60.0)
    _assert_same_forward(net, _inputs(3, 8, seed=2, high=16) * 7)


@pytest.mark.slayer
def test_forward_bit_identical_dense_first_layer():
    _assert_same_forward(_net(middle="ternary", arch="16FC-12FC"), _inputs(5, 4))


@pytest.mark.slayer
@pytest.mark.skipif(
    not os.path.isfile(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")),
    reason="real Fashion-MNIST not installed (scripts/setup.sh installs it)",
)
def test_forward_bit_identical_on_real_fashion_mnist():
    from tna_deploy.data.datasets import load_split
    from tna_deploy.data.encode import encode

    cfg = TrainConfig(
        arch="8C3-AP2-16C3-AP2-32FC",
        width=1.0,
        epochs=2,
        quantize_epoch=0,
        dropout=0.0,
        limit_test=48,
        data_dir=FMNIST,
    )
    test = load_split(cfg, "test")
    torch.manual_seed(0)
    net = build_network(cfg, test.in_shape, 10, 15.0)
    net.set_compression(True)
    x = encode(test.x, cfg.timesteps, cfg.input_bits, False)
    _assert_same_forward(net, x)
    twin = build_network(cfg, test.in_shape, 10, 15.0, role="twin")
    _assert_same_forward(twin, x)


@pytest.mark.slayer
@pytest.mark.parametrize(
    "middle,neuron",
    [
        ("ternary", {}),
        ("fp", {}),
        ("int8", {}),
        ("ternary", dict(current_decay=0.5, threshold=0.75)),
    ],
)
def test_gradients_match_slayer(middle, neuron):
    _gradients_match_slayer(middle, neuron)


def _gradients_match_slayer(middle, neuron):
    net = _net(middle=None if middle == "int8" else middle, **neuron)
    if middle == "int8":
        for info, q in zip(net.info, net.quantizers):
            if info.role == "middle":
                q.mode = "int8"
    x = _inputs(8, 5, seed=4)
    y = torch.arange(8) % 10
    grads = {}
    for engine in ("slayer", "fast"):
        net.engine = engine
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        grads[engine] = [p.grad.clone() for p in net.parameters() if p.requires_grad]
    for g_ref, g in zip(grads["slayer"], grads["fast"]):
        assert g_ref.abs().max() > 0
        assert (g - g_ref).abs().max() <= GRAD_RTOL * g_ref.abs().max()


@pytest.mark.slayer
@pytest.mark.parametrize("middle", ["ternary", "fp"])
def test_gradients_match_slayer_through_the_spike_conv(middle, monkeypatch):
    """The weight gradient over the active inputs (counted) is SLAYER's to float32 tolerance."""
    from tna_deploy.models import fast_spike_conv

    runs = []
    real = fast_spike_conv.weight_grad
    monkeypatch.setattr(fast_spike_conv, "weight_grad", lambda *a: runs.append(1) or real(*a))
    _gradients_match_slayer(middle, dict(arch=SPIKE_CONV_ARCH))
    assert runs, "the weight gradient over the active inputs never ran"


def _traces_with_the_same_seed(net) -> list:
    """Both engines' block outputs in training mode, each drawn from the same RNG state."""
    net.train()
    x = _inputs(4, 3)
    outs = []
    for engine in ("slayer", "fast"):
        net.engine = engine
        torch.manual_seed(11)
        outs.append(net(x, return_trace=True)[1])
    return outs


@pytest.mark.slayer
def test_dropout_masks_are_slayers():
    """With the same seed, the fast engine draws the very masks slayer.neuron.Dropout draws."""
    c = TrainConfig(arch="4C3-8FC-8FC", width=1.0, epochs=1, dropout=0.5)
    torch.manual_seed(0)
    net = build_network(c, (1, 12, 12), 10, 15.0, role="twin")
    outs = _traces_with_the_same_seed(net)
    for a, b in zip(*outs):
        assert torch.equal(a, b)


@pytest.mark.slayer
def test_a_model_trained_with_one_engine_evaluates_and_exports_identically(tiny_cfg, tmp_path):
    import h5py

    from tna_deploy.data.datasets import load_split
    from tna_deploy.data.encode import encode
    from tna_deploy.ir import write_netx
    from tna_deploy.models.chip import prepare_for_chip, to_ir
    from tna_deploy.train.loop import train
    from tna_deploy.train.runs import load_run

    cfg = tiny_cfg(epochs=1, quantize_epoch=0)
    train(cfg, str(tmp_path / "r"), engine="slayer")
    run = load_run(str(tmp_path / "r"), with_twins=False)
    test = load_split(cfg, "test")
    x = encode(test.x, cfg.timesteps, cfg.input_bits, False)
    _assert_same_forward(run.base, x)
    weights = []
    for engine in ("slayer", "fast"):
        run = load_run(str(tmp_path / "r"), with_twins=False)
        run.base.engine = engine
        net, _ = prepare_for_chip(run)
        path = str(tmp_path / f"{engine}.net")
        write_netx(to_ir(run, net), path)
        with h5py.File(path) as h:
            weights.append(
                {
                    k: np.asarray(h["layer"][k]["weight"])
                    for k in h["layer"]
                    if "weight" in h["layer"][k]
                }
            )
            weights[-1]["shapes"] = [
                tuple(np.atleast_1d(h["layer"][k]["shape"][()])) for k in sorted(h["layer"])
            ]
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        assert np.array_equal(
            np.asarray(weights[0][k], dtype=object), np.asarray(weights[1][k], dtype=object)
        ), k


@pytest.mark.slayer
@pytest.mark.parametrize("decays", [(1.0, 0.25), (0.0, 0.0), (0.3, 0.05)])
def test_neuron_bit_identical_beyond_float32_integers(decays):
    """Synaptic inputs on the 1/64 grid that drive u and v past 2^24 state units, where SLAYER's float32
    hand-over of the current and its float32 spike test round: the kernel rounds exactly as SLAYER does."""
    from tna_deploy.models.fast import NeuronConsts, _CubaSpike
    from tna_deploy.models.network import slayer

    s = slayer()
    neuron = s.neuron.cuba.Neuron(
        threshold=20000.0,
        current_decay=decays[0],
        voltage_decay=decays[1],
        shared_param=True,
        persistent_state=False,
    )
    g = torch.Generator().manual_seed(5)
    z = torch.randint(-64 * 2000, 64 * 7000, (64, 16, 10), generator=g).float() / 64
    ref = neuron(z)
    fast = _CubaSpike.apply(z.permute(2, 0, 1).contiguous(), NeuronConsts(neuron, True)).permute(
        1, 2, 0
    )
    _, voltage = neuron.dynamics(z)
    assert float(voltage.abs().max()) * 4096 > (1 << 24)  # the test really reaches float32 rounding
    assert ref.sum() > 0 and torch.equal(ref, fast)
    c = NeuronConsts(neuron, True)
    a = (z * 4096).trunc().permute(2, 0, 1).contiguous()
    trace = cuba_run(
        a,
        c.i_decay,
        c.v_decay,
        c.threshold_units,
        SLAYER,
        keep_v_pre=True,
        v_pre_dtype=torch.float32,
    )
    assert torch.equal(trace.v_pre.permute(1, 2, 0) / 4096, voltage)


@pytest.mark.parametrize("theta", [1.0, 15.0, 255.0, 4095.5, 20000.0, 123456.0])
def test_spike_level_is_slayers_float32_test(theta):
    """SLAYER fires when ``int64 v >= (theta + 0.01/4096) * 4096`` (a float32 comparison); the kernel's
    integer level gives the same answer for every voltage around it, including where float32 rounds."""
    from tna_deploy.engine.cuba import slayer_spike_level

    level = int(slayer_spike_level(theta * 4096))
    v = torch.arange(level - 40, level + 40, dtype=torch.int64)
    slayer_fires = v >= (theta + 0.01 / 4096) * 4096  # SLAYER's own expression and dtypes
    assert torch.equal(slayer_fires, v >= level)
    assert slayer_fires.any() and not slayer_fires.all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("role", ["base", "twin"])
def test_fast_engine_on_cuda_equals_stock_slayer_on_cpu(role):
    from tna_deploy.train.device import resolve_device

    dev = resolve_device("cuda")
    net = _net(role=role, middle="ternary" if role == "base" else None)
    x = _inputs(6, 5)
    y = torch.arange(6) % 10
    net.engine = "slayer"
    net.zero_grad()
    l_ref, t_ref = net(x, return_trace=True)
    torch.nn.functional.cross_entropy(l_ref, y).backward()
    g_ref = [p.grad.clone() for p in net.parameters() if p.requires_grad]
    net.engine = "fast"
    net.to(dev).zero_grad()
    logits, t = net(x.to(dev), return_trace=True)
    torch.nn.functional.cross_entropy(logits, y.to(dev)).backward()
    if role == "base":  # grid weights: exact in any summation order, on any device
        assert torch.equal(logits.cpu(), l_ref) and all(
            torch.equal(a.cpu(), b) for a, b in zip(t, t_ref)
        )
    for p, g0 in zip([p for p in net.parameters() if p.requires_grad], g_ref):
        assert (p.grad.cpu() - g0).abs().max() <= GRAD_RTOL * g0.abs().max()


@pytest.mark.slayer
def test_per_neuron_decays_fall_back_to_slayer():
    """shared_param=False (not something tna-deploy builds) is computed by SLAYER's own forward."""
    from tna_deploy.models.fast import supports

    net = _net(middle="ternary", arch="16FC-12FC")
    blk = net.blocks[1]
    blk.neuron.voltage_decay = torch.nn.Parameter(
        blk.neuron.voltage_decay.detach().expand(16).clone(), requires_grad=False
    )
    assert not supports(net)
    x = _inputs(3, 4)
    net.engine = "fast"
    a = net(x)
    net.engine = "slayer"
    assert torch.equal(a, net(x))


@pytest.mark.slayer
def test_dropout_on_a_conv_block_is_slayers():
    """A conv block with neuron dropout (channels-last on CPU): the same masks, in SLAYER's (C, H, W) order."""
    from tna_deploy.models.network import slayer

    c = TrainConfig(arch="4C3-8FC", width=1.0, epochs=1, dropout=0.0)
    torch.manual_seed(0)
    net = build_network(c, (1, 12, 12), 10, 15.0, role="twin")
    net.blocks[0].neuron.drop = slayer().neuron.Dropout(p=0.5)
    outs = _traces_with_the_same_seed(net)
    assert outs[0][0].sum() > 0
    for a, b in zip(*outs):
        assert torch.equal(a, b)
