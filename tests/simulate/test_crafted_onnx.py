"""Crafted ONNX files never reach onnxruntime's exceptions (issue 22, item 6): a tna-deploy ONNX file's
graph must be the one its metadata describes, so an opset or IR version changed, a node removed, an input
made huge or a tensor moved to external data (which would make onnxruntime read another file) is one line,
exit 2, before onnxruntime parses it."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def onnx_file(exported, tmp_path_factory):
    from tna_deploy.export.onnx_writer import write_onnx
    from tna_deploy.ir import read_netx

    _, net, _ = exported
    path = tmp_path_factory.mktemp("crafted") / "good.onnx"
    write_onnx(read_netx(net), str(path))
    return str(path)


def _opset(v):
    def edit(m):
        m.opset_import[0].version = v

    return edit


def _ir99(m):
    m.ir_version = 99


def _remove_node(m):
    del m.graph.node[3]


def _huge_input(m):
    dim = m.graph.input[0].type.tensor_type.shape.dim[0]
    dim.ClearField("dim_param")
    dim.dim_value = 10**12


def _external(secret):
    def edit(m):
        t = m.graph.initializer[0]
        t.data_location = onnx.TensorProto.EXTERNAL
        e = t.external_data.add()
        e.key, e.value = "location", str(secret)
        t.ClearField("raw_data")

    return edit


@pytest.mark.parametrize(
    "name", ["opset1", "opset99", "ir99", "removed-node", "huge-input", "external-data"]
)
def test_a_crafted_onnx_file_is_one_line_before_onnxruntime(onnx_file, tmp_path, name):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x01" * 4096)
    edit = {
        "opset1": _opset(1),
        "opset99": _opset(99),
        "ir99": _ir99,
        "removed-node": _remove_node,
        "huge-input": _huge_input,
        "external-data": _external(secret),
    }[name]
    model = copy.deepcopy(onnx.load(onnx_file))
    edit(model)
    bad = tmp_path / f"{name}.onnx"
    bad.write_bytes(model.SerializeToString())
    res = subprocess.run(
        [sys.executable, "-m", "tna_deploy", "simulate", str(bad), "--backend", "onnx,emulator",
         "--samples", "2", "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert f"{name}.onnx" in res.stderr and "re-export" in res.stderr, res.stderr
    assert not (tmp_path / "o" / "results.json").exists()


def test_the_untouched_file_still_runs(onnx_file, tmp_path):
    from tna_deploy.simulate.run import simulate

    res = simulate(onnx_file, 2, str(tmp_path / "o"), backends=("onnx", "emulator"))
    assert res["agreement"]["spikes_equal"]
