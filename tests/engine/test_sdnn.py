"""netx's SDNN (sigma-delta) neurons in the emulator: lava-dl's own ground truth (PilotNet SDNN, the
tinynet SDN blocks, the recorded sigma arrays), the kernel step for step against Lava's numpy model
code (wraps, cum_error, UNIT), Lava itself on hand-built files whose sums wrap, and the IR's round trip
and refusals."""

import dataclasses
import importlib.util
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from helpers import no_lava

from tna_deploy.engine.emulator import Emulator, Stream
from tna_deploy.engine.neurons.sdnn import SigmaDelta
from tna_deploy.ir import DeployedNet, Layer, NetxFormatError, read_netx, write_netx
from tna_deploy.ir.neurons import SigmaDeltaNeuron

if no_lava():  # lava-dl's recorded ground truths ship in its wheel; Lava runs the hand-built files
    pytest.skip(no_lava(), allow_module_level=True)
GTS = os.path.join(
    os.path.dirname(list(importlib.util.find_spec("lava").submodule_search_locations)[0]),
    "tests/lava/lib/dl/netx/gts",
)
PILOT = os.path.join(GTS, "pilotnet_sdnn")
TINY = os.path.join(GTS, "tinynet_sdnn")
LAVA_RUN = os.path.join(os.path.dirname(__file__), "sdnn_lava.py")


def _gt(*parts):
    return np.load(os.path.join(GTS, *parts))


def _chw(x_whct):
    """Lava's (W, H, C, T) -> a batch of one (1, C, H, W, T)."""
    return x_whct.transpose(2, 1, 0, 3)[None]


def _whc(trace_layer):
    """The emulator's (1, C, H, W, T) -> Lava's (W, H, C, T)."""
    return trace_layer[0].transpose(2, 1, 0, 3)


def _pilot_input(steps: int, width: int = 100):
    """lava-dl's input.npy (one frame, W H C), as its RingBuffer repeats it for ``steps`` steps."""
    x = _gt("pilotnet_sdnn", "input.npy")[:width]
    return _chw(np.repeat(x, steps, axis=-1))


# 1. lava-dl's ground truth


def test_pilotnet_sdnn_output_equals_lava_dl_ground_truth():
    """As lava-dl's test_pilotnet_sdnn: input.npy into the input Delta's a_in, len(net.layers) steps, one
    stream; the Sigma read-out's values equal output.npy."""
    net = read_netx(os.path.join(PILOT, "network.net"))
    roles = [layer.neuron.role for layer in net.compute_layers]
    assert roles == ["delta"] + ["sigma_delta"] * 7 + ["sigma"]
    steps = len(net.compute_layers)
    trace = Emulator(net, Stream(None)).run(_pilot_input(steps))
    out = trace.spikes[-1][0]
    gt = _gt("pilotnet_sdnn", "output.npy")
    assert out.dtype == np.int32 and np.count_nonzero(gt) > 5
    assert np.array_equal(out, gt), (out, gt)


def _with_spike_exp(net: DeployedNet, spike_exp: int) -> DeployedNet:
    """``net`` as ``netx.hdf5.Network(spike_exp=...)`` builds it."""
    layers = [
        dataclasses.replace(x, neuron=dataclasses.replace(x.neuron, spike_exp=spike_exp))
        if x.neuron is not None
        else x
        for x in net.layers
    ]
    return dataclasses.replace(net, layers=tuple(layers))


def test_pilotnet_spike_exp_changes_the_output():
    """netx's Network(spike_exp=0) rescales the graded spikes: lava-dl's test_pilotnet_sdnn_spike_exp
    accepts a mean error below 2 * 64 against output.npy / 64."""
    net = read_netx(os.path.join(PILOT, "network.net"))
    net0 = _with_spike_exp(net, 0)
    steps = len(net.compute_layers)
    out = Emulator(net0, Stream(None)).run(_pilot_input(steps)).spikes[-1][0]
    gt = _gt("pilotnet_sdnn", "output.npy") / 64
    assert not np.array_equal(out, gt) and np.abs(out - gt).mean() < 2 * 64


@pytest.mark.parametrize(
    "net_file, width, arrays",
    [
        ("network.net", 100, {0: "act0", 1: "sigma1", 2: "sigma2"}),
        (
            "square_network.net",
            33,
            {1: "sigma1_square", 2: "sigma2_square", 3: "sigma3_square", 4: "sigma4_square"},
        ),
    ],
)
def test_pilotnet_recorded_arrays_equal_the_emulator(net_file, width, arrays):
    """lava-dl's recorded PilotNet arrays (20 steps of the repeated frame, W H C T): act0 is the input
    Delta's sent values, sigma<i> layer i's sigma (the emulator's ``current``), for the rectangular and
    the square network (the frame's first 33 columns). Every value matches: nothing to set apart."""
    net = read_netx(os.path.join(PILOT, net_file))
    trace = Emulator(net, Stream(None)).run(_pilot_input(20, width), record=("current",))
    for i, name in arrays.items():
        gt = _gt("pilotnet_sdnn", f"{name}.npy")
        got = _whc(trace.spikes[i] if name.startswith("act") else trace.current[i])
        assert got.shape == gt.shape and np.count_nonzero(gt), name
        assert np.array_equal(got, gt), (name, int(np.abs(got - gt).max()))


def _tiny_net(second: Layer, in_shape: tuple, input_neuron=None):
    return DeployedNet(
        (Layer("input", 0, in_shape, in_shape, neuron=input_neuron), second), in_shape
    )


def test_tinynet_sdnn_blocks_equal_lava_dl_ground_truth():
    """lava-dl's test_blocks SDN tests: the Delta input block (vth 20) on input_bias * sin over 15 steps;
    the SigmaDelta conv block (vth 20, layer1 kernel and bias, stride 2, binary input) run one step; the
    Sigma dense block on layer1.npy (binary input) over 16 steps."""
    steps = 15
    x = _gt("tinynet_sdnn", "input_bias.npy")[..., None].repeat(steps, axis=3)
    x = (x * np.sin(2 * np.pi * np.arange(steps) / steps)).astype(int)
    delta = SigmaDeltaNeuron("delta", 20)
    read_out = Layer("dense", 1, (768,), (1,), SigmaDeltaNeuron("sigma", None), np.ones((1, 768)))
    net = DeployedNet(
        (
            Layer("input", 0, (3, 16, 16), (3, 16, 16), neuron=delta),
            Layer("flatten", 1, (3, 16, 16), (768,)),
            read_out,
        ),
        (3, 16, 16),
    )
    got = _whc(Emulator(net, Stream(None)).run(_chw(x)).spikes[0])
    gt = _gt("tinynet_sdnn", "input.npy")
    assert np.count_nonzero(gt) > 100 and np.array_equal(got, gt)

    kernel = _gt("tinynet_sdnn", "layer1_kernel.npy")  # Lava's (out, kW, kH, in), flipped
    conv = Layer(
        "conv",
        1,
        (3, 16, 16),
        (24, 6, 6),
        SigmaDeltaNeuron("sigma_delta", 20),
        kernel.transpose(0, 3, 2, 1)[:, :, ::-1, ::-1],
        _gt("tinynet_sdnn", "layer1_bias.npy"),
        stride=(2, 2),
    )
    got = _whc(
        Emulator(_tiny_net(conv, (3, 16, 16)), Stream(None)).run(_chw(gt[..., :1])).spikes[0]
    )
    gt1 = _gt("tinynet_sdnn", "layer1.npy")  # Lava ran one step: later columns stay 0
    assert np.count_nonzero(gt1[..., 0]) > 100 and not gt1[..., 1:].any()
    assert np.array_equal(got[..., 0], gt1[..., 0])

    weight = _gt("tinynet_sdnn", "layer2_weight.npy")
    dense = Layer("dense", 1, (864,), (100,), SigmaDeltaNeuron("sigma", None), weight)
    x = gt1.reshape(-1, 16)  # Lava's WHC order, as the block takes it
    got = Emulator(_tiny_net(dense, (864,)), Stream(None)).run(x[None]).spikes[0][0]
    gt2 = _gt("tinynet_sdnn", "layer2.npy")
    assert np.count_nonzero(gt2) > 100 and np.array_equal(got, gt2)


# 2. the kernel against Lava's numpy model code


def _lava_models(role, a_in, vth, bias, cum_error, act_mode):
    """Lava's PyDeltaModelFixed / PySigmaDeltaModelFixed / PySigmaModelFixed run_spk, minus the ports,
    on int32 ``a_in`` (T, n): what each step sends, its sigma and act."""
    from tna_deploy.lava_import import quiet_import

    models = quiet_import("lava.proc.sdn.models")
    act = quiet_import("lava.proc.sdn.process").ActivationMode
    cls = {
        "delta": models.PyDeltaModelFixed,
        "sigma_delta": models.PySigmaDeltaModelFixed,
        "sigma": models.PySigmaModelFixed,
    }[role]
    m = object.__new__(cls)
    zeros = lambda: np.zeros(a_in.shape[1:], np.int32)  # noqa: E731
    m.sigma, m.act, m.residue, m.error = zeros(), zeros(), zeros(), zeros()
    m.spike_exp, m.state_exp = np.array([6], np.int32), np.array([6], np.int32)
    m.vth = np.array([vth * 4096], np.int32)
    m.bias = bias.astype(np.int32) * 4096
    m.cum_error = np.array([cum_error])
    m.act_mode = act.RELU if act_mode == "relu" else act.UNIT
    sent, sigmas, acts = [], [], []
    for a in a_in.astype(np.int32):
        if role == "delta":
            x = np.left_shift(a, m.spike_exp + m.state_exp)
            s = np.right_shift(m.delta_dynamics(x), m.state_exp)
            m.act = x
        elif role == "sigma_delta":
            s = np.right_shift(m.dynamics(a), m.state_exp)
        else:
            m.sigma = s = m.sigma_dynamics(a)
        sent.append(s)
        sigmas.append(x if role == "delta" else m.sigma.copy())
        acts.append(m.sigma.copy() if role == "sigma" else m.act.copy())
    return np.array(sent), np.array(sigmas), np.array(acts)


@pytest.mark.parametrize("role", ["delta", "sigma_delta", "sigma"])
@pytest.mark.parametrize("cum_error, act_mode", [(False, "relu"), (True, "relu"), (False, "unit")])
@pytest.mark.parametrize("scale", [40, 1 << 12, 1 << 21, 1 << 30])
def test_kernel_equals_lava_model_code(role, cum_error, act_mode, scale):
    """Random inputs from small to int32-wrapping ones (Delta's a_in << 12 wraps from 2^19, sums from
    2^30), every role, cum_error and UNIT: the same sent values, sigma and act at every step."""
    if role != "sigma_delta" and act_mode == "unit":
        pytest.skip("only a SigmaDelta has an activation")
    rng = np.random.default_rng(scale + 7 * cum_error)
    steps, n = 12, 64
    a = rng.integers(-scale, scale + 1, (steps, n))
    a[rng.random((steps, n)) < 0.3] = 0
    a[3] = a[2]  # repeated input: Delta sends nothing new
    bias = rng.integers(-300, 300, n) if role == "sigma_delta" else None
    vth = 3
    ref = _lava_models(role, a, vth, np.zeros(n) if bias is None else bias, cum_error, act_mode)
    neuron = SigmaDeltaNeuron(
        role, None if role == "sigma" else vth, cum_error=cum_error, act_mode=act_mode
    )
    out = SigmaDelta.run(
        torch.from_numpy(a[:, None].astype(np.float64)),
        float(np.abs(a).max()),
        neuron,
        None if bias is None else torch.from_numpy(bias[None].astype(np.float64)),
        True,
        False,
    )
    got = [t[:, 0].numpy().astype(np.int64) for t in (out.out, out.u, out.v)]
    for name, g, r in zip(("sent", "sigma", "act"), got, ref):
        assert np.array_equal(g, r), (name, g[g != r][:5], r[g != r][:5])
    assert out.graded and out.out_max == float(np.abs(ref[0]).max())
    assert np.count_nonzero(ref[0]) > 10
    if role == "sigma_delta" and scale == 40:  # messageBits 0: Lava's next synapse takes s != 0
        binary = dataclasses.replace(neuron, message_bits=0)
        out = SigmaDelta.run(
            torch.from_numpy(a[:, None].astype(np.float64)),
            float(np.abs(a).max()),
            binary,
            torch.from_numpy(bias[None].astype(np.float64)),
            False,
            False,
        )
        assert not out.graded and out.out_max == 1.0
        assert np.array_equal(out.out[:, 0].numpy(), ref[0] != 0)


# 3. Lava itself on hand-built files whose sums wrap


def sdnn_net(seed: int = 0) -> DeployedNet:
    """input (2, 6, 6) Delta -> 3x3 conv of 3 SigmaDelta (padding 1, per-channel bias) -> flatten ->
    dense SigmaDelta of 8 (bias) -> dense Sigma of 4 read-out. Two conv channels have large positive
    biases and the dense's first row is all 60: its sum of the first step's spikes passes 2^31."""
    rng = np.random.default_rng(seed)
    sd = lambda vth: SigmaDeltaNeuron("sigma_delta", vth)  # noqa: E731
    dense = rng.integers(-60, 61, (8, 108))
    dense[0] = 60
    layers = (
        Layer("input", 0, (2, 6, 6), (2, 6, 6), neuron=SigmaDeltaNeuron("delta", 2)),
        Layer(
            "conv",
            1,
            (2, 6, 6),
            (3, 6, 6),
            sd(5),
            rng.integers(-20, 21, (3, 2, 3, 3)),
            np.array([30000, 25000, -300]),
            padding=(1, 1),
        ),
        Layer("flatten", 2, (3, 6, 6), (108,)),
        Layer(
            "dense",
            3,
            (108,),
            (8,),
            sd(1),
            dense,
            rng.integers(-99, 99, 8),
        ),
        Layer("dense", 4, (8,), (4,), SigmaDeltaNeuron("sigma", None), rng.integers(-9, 9, (4, 8))),
    )
    return DeployedNet(layers, (2, 6, 6))


INPUT_SCALES = {"small": 100, "wraps24": 1 << 13, "int32": 1 << 17, "huge": 1 << 20}
SEGMENT = 5  # steps per scale


def _input_stream() -> np.ndarray:
    """(2, 6, 6, 20): 5 steps of each scale in turn, the second step of each repeating the first."""
    rng = np.random.default_rng(3)
    parts = []
    for scale in INPUT_SCALES.values():
        x = rng.integers(-scale, scale + 1, (2, 6, 6, SEGMENT))
        x[..., 1] = x[..., 0]
        parts.append(x)
    return np.concatenate(parts, axis=-1)


def _lava(path: str, x: np.ndarray, tmp, spike_exps: tuple) -> dict:
    """Lava's sent values per spike_exp and layer (a separate process: Lava's runtime forks)."""
    inputs, out = str(tmp / "inputs.npz"), str(tmp / "lava.npz")
    np.savez(inputs, x=x.transpose(2, 1, 0, 3).astype(np.int32))
    cmd = [sys.executable, LAVA_RUN, path, inputs, out, ",".join(map(str, spike_exps))]
    subprocess.run(cmd, check=True, timeout=600)
    with np.load(out) as z:
        return {
            e: [z[f"x_e{e}_L{i}"] for i in range(len(z.files) // len(spike_exps))]
            for e in spike_exps
        }


@pytest.mark.slow
def test_lava_equals_emulator_on_hand_built_sdnn_files(tmp_path):
    """Written by write_netx, run by netx in Lava (``Network(spike_exp=6)`` and ``spike_exp=0``) as one
    stream: every layer's sent values equal the emulator's, through inputs from small to ones whose conv
    sums pass 2^23 (24-bit wrap) and 2^31 (int32 cast), whose Delta input and dense sums wrap int32."""
    path = str(tmp_path / "sdnn.net")
    write_netx(sdnn_net(), path)
    x = _input_stream()
    lava = _lava(path, x, tmp_path, (6, 0))
    for spike_exp, sent in lava.items():
        net = _with_spike_exp(read_netx(path), spike_exp)
        trace = Emulator(net, Stream(None)).run(x[None])
        assert len(trace.spikes) == len(sent) == 4
        for i, (s, want) in enumerate(zip(trace.spikes, sent)):
            got = s[0].transpose(2, 1, 0, 3) if s.ndim == 5 else s[0]
            assert np.array_equal(got, want), (spike_exp, i, np.argwhere(got != want)[:3])
            assert np.count_nonzero(want[..., SEGMENT:]) > 0
        if spike_exp == 6:  # the conv sums Lava wraps: below 2^23, past it, past 2^31
            w = torch.from_numpy(net.layers[1].weight.astype(np.float64))
            spikes = torch.from_numpy(trace.spikes[0][0].astype(np.float64)).permute(3, 0, 1, 2)
            z = torch.nn.functional.conv2d(spikes, w, padding=1).abs().amax(dim=(1, 2, 3))
            peak = [float(z[k * SEGMENT : (k + 1) * SEGMENT].max()) for k in range(4)]
            assert peak[0] < 1 << 23 <= peak[1] < 1 << 31 <= peak[3], peak


# 4. the IR


def test_sdnn_files_round_trip(tmp_path):
    for path in (os.path.join(PILOT, "network.net"), os.path.join(PILOT, "square_network.net")):
        net = read_netx(path)
        write_netx(net, str(tmp_path / "back.net"))
        back = read_netx(str(tmp_path / "back.net"))
        assert back.same(net)
        with h5py.File(tmp_path / "back.net") as f:
            assert [
                k for k in f["layer"] if "sigma_output" in f[f"layer/{k}"].get("neuron", {})
            ] == (["9"] if path.endswith("/network.net") else [])
    net = sdnn_net()
    write_netx(net, str(tmp_path / "hand.net"))
    assert read_netx(str(tmp_path / "hand.net")).same(net)


def _sdnn_file(path, **neuron):
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array([4]))
        g = f.create_group("layer/1")
        g.create_dataset("type", (1,), "S10", [b"dense"])
        g.create_dataset("shape", data=np.array([3]))
        g.create_dataset("weight", data=np.ones((3, 4)))
        g.create_dataset("neuron/type", data="SDNN")
        for k, v in neuron.items():
            if k == "bias":
                g.create_dataset("bias", data=v)
            else:
                g.create_dataset(f"neuron/{k}", data=v)


@pytest.mark.parametrize(
    "neuron, words",
    [
        (
            {},
            "layer 1 (dense): its 'vThMant' field is missing (an SDNN sigma_delta neuron needs vThMant)",
        ),
        ({"vThMant": -1}, "layer 1 (dense): vThMant -1 outside 0..524287"),
        ({"vThMant": 1 << 20}, "vThMant 1048576 outside"),
        ({"vThMant": 4, "messageBits": 16}, "layer 1 (dense): its messageBits field cannot run"),
        ({"vThMant": np.array([1, 2])}, "vThMant differs between neurons"),
        ({"sigma_output": True, "bias": np.ones(3)}, "bias on a sigma neuron"),
    ],
)
def test_malformed_sdnn_groups_are_refused_naming_the_field(tmp_path, neuron, words):
    p = tmp_path / "bad.net"
    _sdnn_file(p, **neuron)
    with pytest.raises(NetxFormatError, match=words.replace("(", r"\(").replace(")", r"\)")) as e:
        read_netx(str(p))
    assert "\n" not in str(e.value)


def test_what_netx_cannot_hold_is_refused():
    net = sdnn_net()
    with pytest.raises(ValueError, match="never reset"):
        Emulator(net)  # separate windows need resets
    conv = net.layers[1]
    with pytest.raises(ValueError, match="a delta neuron on a conv layer"):
        dataclasses.replace(conv, neuron=SigmaDeltaNeuron("delta", 1))
    odd = dataclasses.replace(conv, neuron=dataclasses.replace(conv.neuron, cum_error=True))
    with pytest.raises(ValueError, match="SDNN cum_error True: a netx file can only hold"):
        write_netx(dataclasses.replace(net, layers=(net.layers[0], odd) + net.layers[2:]), "x.net")
    with pytest.raises(ValueError, match="message_bits 40 outside 0..24"):
        SigmaDeltaNeuron("sigma_delta", 1, message_bits=40)
    from tna_deploy.ir.serial import describe

    with pytest.raises(ValueError, match="SDNN neurons have no ONNX description"):
        describe(net)


def test_graded_spikes_count_as_messages():
    """simulate's counts and parity take a graded spike as one message (a nonzero value), as a 0/1 one."""
    from tna_deploy.simulate.collect import Collector
    from tna_deploy.simulate.compare import spike_counts

    net = sdnn_net()
    x = _input_stream()[None]
    trace = Emulator(net, Stream(None)).run(x)
    c = Collector(net, ())
    c.add(x, trace, 0.0)
    counts = c.source_counts().counts[0]
    for i, s in enumerate(trace.spikes[:-1]):
        nonzero = (s[0].reshape(-1, s.shape[-1]) != 0).sum(axis=0)
        assert np.abs(s).max() > 1 and np.array_equal(counts[i], nonzero), i
    assert np.array_equal(spike_counts(trace.spikes[:-1])[0], counts)
