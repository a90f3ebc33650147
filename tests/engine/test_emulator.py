"""The emulator computes Lava's integers: on exported networks, on hand-built files that overflow the
24-bit current and clip the voltage, with delays, biases and input neurons; and it needs no Lava."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import conv_dense_net, tiny_config

from tna_deploy.cli import main
from tna_deploy.engine.emulator import Emulator
from tna_deploy.export.netx import ExportError
from tna_deploy.ir import DeployedNet, Layer, Neuron, write_netx
from tna_deploy.simulate.run import simulate

U_MAX = (1 << 23) - 1


def _state(out):
    with np.load(os.path.join(out, "state.npz")) as z:
        return {k: z[k] for k in z.files}


def _assert_lava_equals_emulator(res, out, layers):
    g = res["agreement"]
    assert g["spikes_equal"] and g["logits_equal"] and g["first_divergence"] is None, g
    s = _state(out)
    for i in range(layers):
        for f in ("current", "voltage"):
            assert np.array_equal(s[f"lava_{f}_L{i}"], s[f"emulator_{f}_L{i}"]), (f, i)
    return s


def test_emulator_equals_lava_and_pytorch_on_an_exported_network(exported):
    run, net, d = exported
    out = str(d / "both")
    res = simulate(
        net,
        5,
        out,
        backends=("emulator", "lava"),
        run_dir=run,
        record=("spikes", "current", "voltage"),
    )
    _assert_lava_equals_emulator(res, out, 5)
    assert (
        res["parity"]["spikes_equal"]
        and res["parity"]["logits_equal"]
        and res["chip"] == "emulator"
    )
    assert sum(r["emulator_spikes"] for r in res["agreement"]["per_layer"]) > 0
    with np.load(os.path.join(out, "counts.npz")) as z:
        for key in ("logits", "counts", "synops"):
            assert np.array_equal(z[f"lava_{key}"], z[f"emulator_{key}"]), key
    # the report reads emulator results exactly as Lava's
    from tna_deploy.report import build_report

    r = build_report(out)
    assert r.activity["lava"] == r.activity["emulator"] == r.activity["torch"]


def test_whole_split_in_chunks_equals_one_chunk(exported):
    run, net, d = exported
    small = simulate(net, "all", str(d / "c1"), run_dir=run, chunk=5)
    big = simulate(net, "all", str(d / "c2"), run_dir=run)
    assert small["samples"] == big["samples"] == 32 and small["parity"]["spikes_equal"]
    assert (
        small["parity"] == big["parity"]
        and small["emulator"]["predictions"] == big["emulator"]["predictions"]
    )
    z1, z2 = np.load(d / "c1" / "counts.npz"), np.load(d / "c2" / "counts.npz")
    assert all(np.array_equal(z1[k], z2[k]) for k in z1.files)


def test_divergence_is_located_across_chunks(exported, monkeypatch):
    run, net, d = exported
    import tna_deploy.simulate.run as sim_run

    real, calls = sim_run.torch_reference, []

    def flipped(ref, x):
        trace = real(ref, x)
        calls.append(len(x))
        if len(calls) == 2:
            trace.spikes[1][1, 0, 0, 0, 2] ^= 1  # chunk 2 (samples 3..5): its sample 1 is sample 4
        return trace

    monkeypatch.setattr(sim_run, "torch_reference", flipped)
    p = simulate(net, 6, str(d / "div-chunks"), run_dir=run, chunk=3)["parity"]
    assert not p["spikes_equal"] and p["first_divergence"] == dict(
        layer="1:conv", layer_index=1, timestep=2, sample=4
    )


@pytest.mark.lava
@pytest.mark.slow
def test_overflow_lava_and_emulator_agree_where_pytorch_does_not(fmnist_dir, tmp_path):
    """12-bit pixels drive the first conv's sum past 24 bits (Lava wraps it) and its threshold past
    the voltage clip: Lava and the emulator agree, PyTorch does not, and the parity report says where."""
    from tna_deploy.export import to_netx
    from tna_deploy.train.loop import train

    train(
        tiny_config(
            fmnist_dir,
            arch="4C3-8FC",
            timesteps=3,
            input_bits=12,
            epochs=1,
            quantize_epoch=0,
            seed=3,
        ),
        str(tmp_path / "run"),
    )
    with pytest.raises(
        ExportError,
        match=r"layer 0:conv: inputs up to 4095 .* the largest safe input is \d+ "
        r"\(--input-bits \d+\)",
    ):
        to_netx(str(tmp_path / "run"), str(tmp_path / "net.net"))  # refused, naming a safe width
    assert not (tmp_path / "net.net").exists()
    to_netx(str(tmp_path / "run"), str(tmp_path / "net.net"), allow_overflow=True)
    out = str(tmp_path / "o")
    res = simulate(
        str(tmp_path / "net.net"),
        3,
        out,
        backends=("emulator", "lava"),
        run_dir=str(tmp_path / "run"),
        record=("current", "voltage"),
    )
    s = _assert_lava_equals_emulator(res, out, 3)
    assert np.abs(s["emulator_voltage_L0"]).max() == U_MAX  # the clip was reached
    p = res["parity"]
    assert (
        not p["spikes_equal"]
        and p["first_divergence"]["layer"] == "0:conv"
        and p["first_divergence"]["timestep"] == 0
    )


def _net(layers, shape, bits=0):
    return DeployedNet(tuple(layers), shape, input_bits=bits)


@pytest.mark.lava
def test_hand_built_current_wrap_voltage_clip_delays_and_bias(tmp_path):
    """Non-leaky dense layers with large weights and graded input: u passes 2^23 and wraps, v clips;
    delays carry spikes into the next sample's window; a bias adds each step."""
    w1 = np.array([[255, 200, -3, 0, 7, 100]] * 3 + [[-256, -255, 12, 40, 0, 1]])
    d1 = np.array([[0, 1, 2, 3, 0, 5]] * 4)
    big = Neuron(threshold=(1 << 17) - 1, current_decay=0, voltage_decay=0)  # never fires: v clips
    spiky = Neuron(threshold=50, current_decay=300, voltage_decay=700)
    net = _net(
        [
            Layer("input", 0, (6,), (6,)),
            Layer("dense", 1, (6,), (4,), spiky, w1, bias=np.array([50, -20, 0, 300]), delay=d1),
            Layer(
                "dense",
                2,
                (4,),
                (3,),
                big,
                np.array([[255, 255, 255, 255], [-256, -256, 0, 0], [254, -2, 9, 9]]),
            ),
        ],
        (6,),
        bits=12,
    )
    path = tmp_path / "wrap.net"
    write_netx(net, str(path))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (3, 6, 400)).astype(np.int32)  # 400 steps: the read-out's u passes 2^23
    np.save(tmp_path / "x.npy", x)
    out = str(tmp_path / "o")
    res = simulate(
        str(path),
        "all",
        out,
        backends=("lava", "emulator"),
        input_path=str(tmp_path / "x.npy"),
        record=("spikes", "current", "voltage"),
    )
    s = _assert_lava_equals_emulator(res, out, 2)
    u = s["emulator_current_L1"].astype(np.int64)
    assert np.abs(s["emulator_voltage_L1"]).max() == U_MAX  # clipped voltage
    assert np.abs(u).max() > 1 << 22 and (np.abs(np.diff(u, axis=-1)) > 1 << 23).any()  # u wrapped
    assert sum(r["lava_spikes"] for r in res["agreement"]["per_layer"]) > 0
    # chunks of one sample carry the delayed spikes across exactly as one stream does
    one = Emulator(net).run(x)
    emu = Emulator(net)
    parts = [emu.run(x[k : k + 1]) for k in range(3)]
    for i in range(2):
        assert np.array_equal(one.spikes[i], np.concatenate([p.spikes[i] for p in parts]))


@pytest.mark.lava
def test_hand_built_conv_clamp_and_input_neuron(tmp_path):
    """A conv's sum past 24 bits (Lava's signed_clamp), and a file whose input layer has a neuron."""
    conv_w = np.full((2, 1, 3, 3), 255)
    conv_w[1] = -256
    n = Neuron(threshold=2000, current_decay=4096, voltage_decay=1024)
    net = _net(
        [
            Layer("input", 0, (1, 5, 5), (1, 5, 5)),
            Layer(
                "conv", 1, (1, 5, 5), (2, 5, 5), n, conv_w, bias=np.array([5, -5]), padding=(1, 1)
            ),
            Layer("flatten", 2, (2, 5, 5), (50,)),
            Layer("dense", 3, (50,), (3,), n, np.arange(150).reshape(3, 50) % 7 - 3),
        ],
        (1, 5, 5),
        bits=16,
    )
    write_netx(net, str(tmp_path / "conv.net"))
    x = np.random.default_rng(1).integers(0, 60000, (3, 1, 5, 5, 4)).astype(np.int32)
    np.save(tmp_path / "x.npy", x)
    res = simulate(
        str(tmp_path / "conv.net"),
        3,
        str(tmp_path / "o"),
        backends=("lava", "emulator"),
        input_path=str(tmp_path / "x.npy"),
        record=("current", "voltage"),
    )
    s = _assert_lava_equals_emulator(res, str(tmp_path / "o"), 2)
    raw = 255 * 9 * 59000
    assert raw > 1 << 23 and (s["emulator_current_L0"] != 0).any()
    inp = Neuron(threshold=10, current_decay=2000, voltage_decay=500)
    net2 = conv_dense_net(n, input_neuron=inp, dense=np.ones((2, 12), int) * 20)
    write_netx(net2, str(tmp_path / "in.net"))
    np.save(
        tmp_path / "x2.npy",
        np.random.default_rng(2).integers(0, 30, (4, 2, 4, 4, 6)).astype(np.int16),
    )
    res2 = simulate(
        str(tmp_path / "in.net"),
        "all",
        str(tmp_path / "o2"),
        backends=("lava", "emulator"),
        input_path=str(tmp_path / "x2.npy"),
        record=("current", "voltage"),
    )
    _assert_lava_equals_emulator(res2, str(tmp_path / "o2"), 3)
    assert res2["agreement"]["per_layer"][0]["lava_spikes"] > 0


def test_bad_input_arrays_are_one_line(exported, tmp_path):
    run, net, d = exported
    bad = {
        "shape.npy": np.zeros((2, 1, 27, 28, 4), np.int32),
        "float.npy": np.zeros((1, 28, 28, 4), np.float32),
        "obj.npy": np.array([{"a": 1}], dtype=object),
    }
    for name, arr in bad.items():
        np.save(tmp_path / name, arr, allow_pickle=True)
    (tmp_path / "junk.npy").write_bytes(b"nope")
    np.savez(tmp_path / "arrays.npz", x=np.zeros((1, 1, 28, 28, 4), np.uint8))
    for name, words in (
        ("arrays.npz", "an .npz archive of several arrays; give one .npy array"),
        ("shape.npy", "the network takes (K, 1, 28, 28, T)"),
        ("float.npy", "dtype float32"),
        ("obj.npy", "not a readable .npy"),
        ("junk.npy", "not a readable .npy"),
        ("missing.npy", "no such file"),
    ):
        res = CliRunner().invoke(
            main, ["simulate", net, "--input", str(tmp_path / name), "--out", str(tmp_path / "o")]
        )
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and words in lines[0], res.stderr
    for args, words in (
        (["--backend", "lava,gpu"], "--backend 'lava,gpu'"),
        (["--record", "spikes,mood"], "--record"),
        (["--samples", "some"], "--samples 'some'"),
    ):
        res = CliRunner().invoke(main, ["simulate", net, *args, "--out", str(tmp_path / "o")])
        assert (
            res.exit_code == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1
        )


def test_refusal_names_the_layer_and_type(tmp_path):
    import h5py

    p = tmp_path / "pool.net"
    with h5py.File(p, "w") as f:
        for i, kind in enumerate(("input", "pool")):
            g = f.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [kind.encode()])
            g.create_dataset("shape", data=np.array([1, 4, 4]))
    res = CliRunner().invoke(
        main, ["simulate", str(p), "--input", "x.npy", "--out", str(tmp_path / "o")]
    )
    assert (
        res.exit_code == 2
        and "layer 1 (pool)" in res.stderr
        and len(res.stderr.strip().splitlines()) == 1
    )


BLOCK_LAVA = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "lava" or name.startswith("lava."):
            raise ImportError("Lava is blocked in this test: " + name)
sys.meta_path.insert(0, Block())
from tna_deploy.cli import main
for args in ({sim}, {rep}):
    try:
        main(args, standalone_mode=False)
    except SystemExit as e:
        assert not e.code, e.code
assert not [m for m in sys.modules if m == "lava" or m.startswith("lava.")]
print("lava-free ok")
"""


def test_emulator_and_report_run_without_lava(tmp_path):
    """simulate --backend emulator and report work where Lava cannot be imported at all."""
    n = Neuron(threshold=100, current_decay=4096, voltage_decay=1024)
    net = _net(
        [
            Layer("input", 0, (1, 4, 4), (1, 4, 4)),
            Layer(
                "conv", 1, (1, 4, 4), (2, 4, 4), n, np.ones((2, 1, 3, 3), int) * 9, padding=(1, 1)
            ),
            Layer("flatten", 2, (2, 4, 4), (32,)),
            Layer("dense", 3, (32,), (3,), n, np.ones((3, 32), int) * 5),
        ],
        (1, 4, 4),
        bits=4,
    )
    write_netx(net, str(tmp_path / "n.net"))
    np.save(tmp_path / "x.npy", np.random.default_rng(0).integers(0, 16, (4, 1, 4, 4, 3)))
    sim = [
        str(tmp_path / "n.net"),
        "--input",
        str(tmp_path / "x.npy"),
        "--out",
        str(tmp_path / "s"),
    ]
    code = BLOCK_LAVA.format(
        sim=["simulate"] + sim, rep=["report", str(tmp_path / "s"), "--out", str(tmp_path / "r")]
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "lava-free ok" in out.stdout, out.stderr[-2000:]
    assert json.load(open(tmp_path / "r" / "report.json"))["chip"] == "emulator"


def test_float64_throughout_gives_the_same_integers(exported, monkeypatch):
    """float32 sums are used only where provably exact: forcing float64 everywhere (as
    benchmarks/emulator_speed.py does to time it) must change nothing, and must really switch."""
    import torch

    import tna_deploy.engine.numeric as numeric
    from tna_deploy.engine.emulator import Emulator
    from tna_deploy.ir import read_netx

    _, net, _ = exported
    ir = read_netx(net)
    x = np.random.default_rng(3).integers(0, 16, (4, *ir.input_shape, ir.timesteps))
    fast = Emulator(ir).run(x)
    monkeypatch.setattr(numeric, "F32_EXACT", 0)
    assert numeric.sum_dtype(1.0) == torch.float64
    slow = Emulator(ir).run(x)
    assert np.array_equal(fast.logits, slow.logits)
    assert all(np.array_equal(a, b) for a, b in zip(fast.spikes, slow.spikes))
