"""export --format onnx: onnx.checker passes, onnxruntime and onnx's own ReferenceEvaluator compute the
emulator's (= Lava's, = PyTorch's) integers at every opset the registry offers where each runs, the file
reads back into the same IR, simulate runs it, and bad files are one line."""

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
from tna_deploy.export.onnx_opsets import (  # noqa: E402
    DEFAULT_OPSET,
    OPSETS,
    opset_problem,
    reference_gap,
)
from tna_deploy.export.onnx_writer import OnnxExportError, build_model, random_inputs, write_onnx  # noqa: E402
from tna_deploy.ir import DeployedNet, Layer, Neuron, read_netx  # noqa: E402
from tna_deploy.ir.onnx_model import OnnxFormatError, read_onnx  # noqa: E402
from tna_deploy.simulate.onnx_backend import OnnxRunner  # noqa: E402
from tna_deploy.simulate.run import simulate  # noqa: E402

REAL_FMNIST = "/usr/share/datasets/fashion-mnist"


def _outputs_equal(got, want) -> None:
    """``got``: a runtime's outputs (logits, spikes_L0, ...); ``want``: the emulator's trace."""
    assert np.array_equal(np.asarray(got[0], np.float64), want.logits), "logits"
    assert len(got) == 1 + len(want.spikes)
    for i, (a, b) in enumerate(zip(got[1:], want.spikes)):
        assert a.dtype == np.uint8 and np.array_equal(a, b), f"spikes_L{i}"


def _reference(model, x):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, {"spikes": x})


def _onnxruntime(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"spikes": x})


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


def _wrap_clip_net():
    big = Neuron(threshold=(1 << 17) - 1, current_decay=0, voltage_decay=0)
    spiky = Neuron(threshold=50, current_decay=300, voltage_decay=700)
    w1 = np.array([[255, 200, -3, 0, 7, 100]] * 3 + [[-256, -255, 12, 40, 0, 1]])
    w2 = np.array([[-255, -8, -1, -16], [-256, -256, -3, -1], [-2, -2, -4, -6]])
    conv_w = np.arange(18).reshape(2, 1, 3, 3) % 5 - 2
    return DeployedNet(
        (
            Layer("input", 0, (1, 3, 2), (1, 3, 2)),
            Layer(
                "conv", 1, (1, 3, 2), (2, 3, 2), spiky, conv_w * 40, padding=(1, 1), stride=(1, 1)
            ),
            Layer("flatten", 2, (2, 3, 2), (12,)),
            Layer("dense", 3, (12,), (4,), spiky, np.tile(w1, 2), bias=np.array([50, -20, 0, 300])),
            Layer("dense", 4, (4,), (3,), big, w2),
        ),
        (1, 3, 2),
        input_bits=12,
        timesteps=8,
    )


def test_every_registered_opset_runs_in_onnxruntime_and_the_reference_evaluator_as_the_emulator():
    """The registry's opsets give one graph; each passes the checker and runs in onnxruntime with the
    emulator's integers, and so in onnx's ReferenceEvaluator wherever it implements every op (the
    default opset among them: that is why it is the default)."""
    from onnx import helper

    net = _wrap_clip_net()
    x = np.random.default_rng(3).integers(0, 4096, (3, 1, 3, 2, 8)).astype(np.int32)
    want = Emulator(net).run(x)
    assert want.spikes[0].any() and want.spikes[1].any()
    ran_reference = []
    for opset, ir in OPSETS.items():
        model = build_model(net, opset)
        assert model.opset_import[0].version == opset and model.ir_version == ir
        assert ir == helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
        onnx.checker.check_model(model, full_check=True)
        _outputs_equal(_onnxruntime(model, x), want)
        ops = {n.op_type for n in model.graph.node}
        if not reference_gap(opset, ops):
            _outputs_equal(_reference(model, x), want)
            ran_reference.append(opset)
    ops = {n.op_type for n in build_model(net).graph.node}
    assert DEFAULT_OPSET in ran_reference and min(ran_reference) == DEFAULT_OPSET
    assert "DequantizeLinear" in reference_gap(17, ops)  # onnx 1.23: from opset 19 only
    with pytest.raises(Exception, match="DequantizeLinear"):
        _reference(build_model(net, 17), x)  # what reference_gap predicts


def test_an_opset_outside_the_registry_or_without_an_op_is_one_line():
    assert "not one tna-deploy writes (17, 18" in opset_problem(16, ["Mul"])
    assert opset_problem(17, ["Mul", "Conv"]) == ""
    assert opset_problem(17, ["BitwiseAnd", "Mul"]) == (
        "ONNX opset 17 has no BitwiseAnd, which the graph uses"
    )  # BitwiseAnd came in opset 18
    with pytest.raises(OnnxExportError, match="opset 12 is not one"):
        build_model(_wrap_clip_net(), 12)


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
    assert [(o.domain, o.version) for o in model.opset_import] == [("", DEFAULT_OPSET)]


def test_the_exported_file_gives_the_same_integers_in_both_runtimes_and_the_emulator(onnx_file):
    """The file as written (a small trained conv net like the demo's), unchanged, in onnxruntime and in
    onnx's ReferenceEvaluator (slow: two samples), every output integer equal to the emulator's."""
    _, net, path, _ = onnx_file
    ir = read_netx(net)
    model = onnx.load(path)
    x = random_inputs(ir, 2, seed=5)
    want = Emulator(ir).run(x)
    assert sum(int(s.sum()) for s in want.spikes) > 0
    _outputs_equal(_onnxruntime(model, x), want)
    _outputs_equal(_reference(model, x), want)


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


def test_cli_opset_writes_a_file_simulate_reads_and_refuses_in_one_line(onnx_file, tmp_path):
    """--opset 17 (what tna-deploy wrote before): simulate still reads such a file; the summary says
    which runtimes run it. A file relabelled to another opset, an opset not offered, or --opset with
    another format is one line."""
    from click.testing import CliRunner

    from tna_deploy.cli import main

    cli = lambda *args: CliRunner().invoke(main, list(args))  # noqa: E731 -- in-process: fast
    _, net, _, _ = onnx_file
    out = str(tmp_path / "o17.onnx")
    r = cli("export", net, "--format", "onnx", "--opset", "17", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "opset 17" in r.stdout and "ReferenceEvaluator has no DequantizeLinear" in r.stdout
    assert onnx.load(out).opset_import[0].version == 17
    r = cli(
        "simulate",
        out,
        "--backend",
        "onnx,emulator",
        "--samples",
        "3",
        "--out",
        str(tmp_path / "s"),
    )
    assert r.exit_code == 0, r.stderr
    assert "logits equal yes" in r.stdout
    relabelled = onnx.load(out)
    relabelled.opset_import[0].version = 19  # the IR version stays 17's: not what 19 writes
    bad = _write_model(relabelled, tmp_path / "relabelled.onnx")
    for args, words, one_line in (
        (("simulate", bad, "--samples", "2", "--out", str(tmp_path / "s2")), "its graph is not", 1),
        (
            ("export", net, "--format", "onnx", "--opset", "16", "--out", out),
            "'16' is not one of",
            0,
        ),
        (
            ("export", net, "--format", "nir", "--opset", "19", "--out", out),
            "--opset applies to",
            1,
        ),
    ):  # an opset not offered is click's usage error, which lists the choices
        r = cli(*args)
        assert r.exit_code == 2 and words in r.stderr, r.stderr
        assert not one_line or r.stderr.startswith("error:") and r.stderr.count("\n") == 1


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
