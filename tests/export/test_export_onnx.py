"""export --format onnx: onnx.checker passes, onnxruntime computes the emulator's (= Lava's, = PyTorch's)
integers, the file reads back into the same IR, simulate runs it, and bad files are one line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from helpers import conv_dense_net  # noqa: E402

from tna_deploy.engine.emulator import Emulator  # noqa: E402
from tna_deploy.export.onnx_writer import OnnxExportError, build_model, random_inputs, write_onnx  # noqa: E402
from tna_deploy.ir import DeployedNet, Layer, Neuron, read_netx  # noqa: E402
from tna_deploy.ir.onnx_model import OnnxFormatError, read_onnx  # noqa: E402
from tna_deploy.simulate.onnx_backend import OnnxRunner  # noqa: E402
from tna_deploy.simulate.run import simulate  # noqa: E402

REAL_FMNIST = "/usr/share/datasets/fashion-mnist"


def _same_as_emulator(net, x):
    got = OnnxRunner(net).run(x)
    want = Emulator(net).run(x)
    assert np.array_equal(got.logits, want.logits), np.abs(got.logits - want.logits).max()
    for i, (a, b) in enumerate(zip(got.spikes, want.spikes)):
        assert a.dtype == np.uint8 and np.array_equal(a, b), i
    return want


def test_dense_wrap_clip_bias_and_lava_weight_handling():
    """Graded 12-bit input into non-leaky dense layers: u passes 2^23 and wraps, v clips, a bias adds each
    step, and the weights go through netx's re-scaling and truncation (mixed, all-negative, wide)."""
    big = Neuron(threshold=(1 << 17) - 1, current_decay=0, voltage_decay=0)
    spiky = Neuron(threshold=50, current_decay=300, voltage_decay=700)
    w1 = np.array([[255, 200, -3, 0, 7, 100]] * 3 + [[-256, -255, 12, 40, 0, 1]])
    w2 = np.array(
        [[-255, -8, -1, -16], [-256, -256, -3, -1], [-2, -2, -4, -6]]
    )  # all < 0: netx's negative mode
    net = DeployedNet(
        (
            Layer("input", 0, (6,), (6,)),
            Layer("dense", 1, (6,), (4,), spiky, w1, bias=np.array([50, -20, 0, 300])),
            Layer("dense", 2, (4,), (3,), big, w2),
        ),
        (6,),
        input_bits=12,
        timesteps=30,
    )
    x = np.random.default_rng(0).integers(0, 4096, (5, 6, 30)).astype(np.int32)
    want = _same_as_emulator(net, x)
    assert want.spikes[0].any() and np.abs(want.logits).max() > 0


def test_conv_clamp_pool_groups_and_input_neuron():
    """A conv sum in [2^23, 2^24) (Lava's 24-bit clamp, still exact in float32), a grouped pool, per-channel
    bias, stride/padding; then a file whose input layer has its own neuron (any int32 input)."""
    n = Neuron(threshold=2000, current_decay=4096, voltage_decay=1024)
    conv_w = np.full((2, 1, 3, 3), 255)
    conv_w[1] = -256
    net = DeployedNet(
        (
            Layer("input", 0, (1, 6, 6), (1, 6, 6)),
            Layer(
                "conv", 1, (1, 6, 6), (2, 6, 6), n, conv_w, bias=np.array([5, -5]), padding=(1, 1)
            ),
            Layer(
                "conv",
                2,
                (2, 6, 6),
                (2, 3, 3),
                n,
                np.full((2, 1, 2, 2), 65),
                stride=(2, 2),
                groups=2,
            ),
            Layer("flatten", 3, (2, 3, 3), (18,)),
            Layer("dense", 4, (18,), (3,), n, np.arange(54).reshape(3, 18) % 7 - 3),
        ),
        (1, 6, 6),
        input_bits=12,
        timesteps=6,
    )
    x = np.random.default_rng(1).integers(3000, 4096, (3, 1, 6, 6, 6)).astype(np.int32)
    assert 4095 * 255 * 9 > 1 << 23
    _same_as_emulator(net, x)
    inp = Neuron(threshold=10, current_decay=2000, voltage_decay=500)
    net2 = conv_dense_net(n, input_neuron=inp, dense=np.ones((2, 12), int) * 20, timesteps=6)
    x2 = (
        np.random.default_rng(2).integers(-40, 1 << 26, (4, 2, 4, 4, 6)).astype(np.int32)
    )  # a_in << 6 wraps
    want = _same_as_emulator(net2, x2)
    assert want.spikes[0].any()


def test_refusals_name_the_layer():
    n = Neuron(threshold=64, current_decay=4096, voltage_decay=1024)
    conv = Layer(
        "conv",
        1,
        (1, 4, 4),
        (1, 4, 4),
        n,
        np.full((1, 1, 3, 3), 255),
        padding=(1, 1),
        info={"name": "c1"},
    )
    with pytest.raises(OnnxExportError, match="layer c1: conv sums can reach"):
        build_model(
            DeployedNet(
                (Layer("input", 0, (1, 4, 4), (1, 4, 4)), conv),
                (1, 4, 4),
                input_bits=14,
                timesteps=2,
            )
        )
    dense = Layer(
        "dense",
        1,
        (3,),
        (2,),
        n,
        np.ones((2, 3), int),
        delay=np.ones((2, 3), int),
        info={"name": "d1"},
    )
    with pytest.raises(OnnxExportError, match="layer d1: dense delays"):
        build_model(DeployedNet((Layer("input", 0, (3,), (3,)), dense), (3,), timesteps=2))
    with pytest.raises(OnnxExportError, match="timesteps"):
        build_model(
            DeployedNet(
                (
                    Layer("input", 0, (3,), (3,)),
                    dense.__class__("dense", 1, (3,), (2,), n, np.ones((2, 3), int)),
                ),
                (3,),
            )
        )


@pytest.fixture(scope="module")
def onnx_file(exported):
    run, net, d = exported
    path = str(d / "net.onnx")
    summary = write_onnx(read_netx(net), path)
    assert "== emulator" in summary["checked"]
    return run, net, path, d


def test_file_passes_checker_stores_int8_and_reads_back_the_same_ir(onnx_file):
    run, net, path, _ = onnx_file
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    weights = [t for t in model.graph.initializer if t.name.endswith("/weight")]
    assert weights and all(t.data_type == onnx.TensorProto.INT8 for t in weights)
    assert [o.name for o in model.graph.output][0] == "logits"
    back, data = read_onnx(path)
    assert back.same(read_netx(net)) and data == open(path, "rb").read()


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(REAL_FMNIST, "t10k-images-idx3-ubyte.gz")),
    reason="real Fashion-MNIST not installed",
)
def test_onnxruntime_equals_pytorch_on_real_fashion_mnist(onnx_file, tmp_path):
    run, net, path, _ = onnx_file
    res = simulate(
        path,
        40,
        str(tmp_path / "o"),
        backends=("onnx", "emulator"),
        run_dir=run,
        data_dir=REAL_FMNIST,
    )
    p, g = res["parity"], res["agreement"]
    assert p["compared"] == "onnx vs torch" and p["logits_equal"] and p["spikes_equal"]
    assert (
        p["prediction_agreement_pct"] == 100.0
        and res["onnx"]["accuracy"] == res["torch"]["accuracy"]
    )
    assert g["compared"] == "onnx vs emulator" and g["logits_equal"] and g["spikes_equal"]
    assert sum(r["onnx_spikes"] for r in g["per_layer"]) > 0


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tna_deploy", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_export_simulate_report_from_an_onnx_file(onnx_file, tmp_path):
    run, net, _, _ = onnx_file
    out = str(tmp_path / "e.onnx")
    r = _cli("export", run, "--format", "onnx", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "checked: onnxruntime" in r.stdout and os.path.isfile(out)
    r = _cli("simulate", out, "--samples", "6", "--run", run, "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    assert "parity onnx vs torch: predictions agree 100.0%, logits equal yes" in r.stdout
    r = _cli("report", str(tmp_path / "s"), "--out", str(tmp_path / "r"), "--format", "json")
    assert r.returncode == 0, r.stderr
    r = _cli("simulate", out, "--backend", "lava", "--samples", "2", "--out", str(tmp_path / "s2"))
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "Lava runs netx files" in r.stderr


def _write_model(model, path):
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return str(path)


def test_bad_onnx_files_are_one_line(onnx_file, tmp_path):
    _, _, path, _ = onnx_file
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xff not a protobuf" * 50)
    plain = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    broken_ir = onnx.load(path)
    for p in broken_ir.metadata_props:
        if p.key == "tna_deploy.ir":
            p.value = p.value[: len(p.value) // 2]
    external = onnx.load(path)
    t = next(t for t in external.graph.initializer if t.name.endswith("/weight"))
    for f in ("raw_data", "int32_data"):
        t.ClearField(f)
    t.data_location = onnx.TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    cases = {
        str(garbage): "not a readable ONNX model",
        _write_model(plain, tmp_path / "plain.onnx"): "not a tna-deploy",
        _write_model(broken_ir, tmp_path / "ir.onnx"): "re-export",
        str(tmp_path / "missing.onnx"): "no such file",
        _write_model(external, tmp_path / "ext.onnx"): "external data",
    }
    for bad, words in cases.items():
        with pytest.raises(OnnxFormatError, match=words):
            read_onnx(bad)
        r = _cli("simulate", bad, "--samples", "2", "--out", str(tmp_path / "s"))
        assert r.returncode != 0 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1, (
            r.stderr
        )


def test_inputs_outside_the_exported_range_are_refused(onnx_file):
    _, net, _, _ = onnx_file
    ir = read_netx(net)
    x = random_inputs(ir, 2)
    x[0, 0, 0, 0, 0] = 1 << ir.input_bits
    from tna_deploy.errors import ConfigError

    with pytest.raises(ConfigError, match="exceed the ONNX model"):
        OnnxRunner(ir).run(x)
