"""The simulation record (simulate/results.py): what its writer writes its reader reads back, equal; the
sources are spelled once; op counts are defined once and equal the definition they replaced."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import conv_dense_net

from tna_deploy.errors import CheckpointError
from tna_deploy.simulate import results as sim
from tna_deploy.simulate.choices import BACKENDS, SOURCE_NAMES, label


def small_net(path):
    """A conv and a dense layer behind 0/1 input spikes (2, 4, 4), written as a netx file."""
    from tna_deploy.ir import Neuron, write_netx

    n = Neuron(threshold=60, current_decay=4096, voltage_decay=1024)
    net = conv_dense_net(n)
    write_netx(net, str(path))
    return net


def _record(n=3, t=4, neurons=(6, 5, 2)) -> tuple:
    rng = np.random.default_rng(0)
    layers = [f"{i}:dense" for i in range(len(neurons))]
    labels = rng.integers(0, neurons[-1], n)

    def counts():
        return sim.SourceCounts(
            rng.normal(size=(n, neurons[-1])),
            rng.integers(0, 3, (n, len(neurons) - 1, t)),
            rng.integers(0, 50, (n, len(neurons), t)),
        )

    def comparison(a, b):
        return sim.Comparison(
            a,
            b,
            samples=n,
            prediction_agreement_pct=100.0 * 2 / 3,
            logits_max_abs_diff=0.25,
            spike_counts_equal=False,
            per_layer=[sim.LayerParity(name, 1, 7, 8) for name in layers[:-1]],
            first_divergence=sim.Divergence(layers[1], 1, 2, 0),
        )

    summary = lambda **k: sim.Summary.of(rng.normal(size=(n, 2)), labels, 1.5, **k)  # noqa: E731
    record = sim.SimResults(
        file="/x/net.net",
        file_sha256="0" * 64,
        dataset="fashion_mnist",
        input=None,
        samples=n,
        timesteps=t,
        input_bits=4,
        input_max=15,
        layers=layers,
        backends=["lava", "onnx", "emulator"],
        labels=labels.tolist(),
        summaries={
            "lava": summary(steps=20, steps_per_second=3.5),
            "onnx": summary(),
            "emulator": summary(),
            "torch": summary(run="/x/run"),
        },
        parity=comparison("lava", "torch"),
        agreements=[comparison("lava", "emulator"), comparison("onnx", "emulator")],
    )
    data = sim.Counts(
        rng.integers(0, 9, (n, t)), {s: counts() for s in ("lava", "emulator", "torch")}, labels
    )
    return record, data, list(neurons)


def test_what_the_writer_writes_the_reader_reads(tmp_path):
    record, data, neurons = _record()
    x = np.ones((3, 6, 4), np.uint8)
    recorded = sim.Recorded(
        input=x,
        spikes={"emulator": [x[:, :5], x[:, :2]]},
        state={"emulator": {"voltage": [x.astype(np.int32)] * 3}},
    )
    sim.write(str(tmp_path), record, data, recorded)
    back = sim.read(str(tmp_path))
    assert back == record and back.to_dict() == record.to_dict()
    assert back.agreement.compared == "lava vs emulator" and back.chip == "lava"
    got = back.read_counts(str(tmp_path), neurons, "net.net")
    assert set(got.sources) == {"lava", "emulator", "torch"}
    for name, c in data.sources.items():
        for field in ("logits", "counts", "synops"):
            assert np.array_equal(getattr(got.sources[name], field), getattr(c, field))
    assert np.array_equal(got.input_counts, data.input_counts)
    assert np.array_equal(got.labels, data.labels)
    with np.load(tmp_path / sim.SPIKES) as z:
        assert sorted(z.files) == ["emulator_L0", "emulator_L1", "input"]
    with np.load(tmp_path / sim.STATE) as z:
        assert sorted(z.files) == [f"emulator_voltage_L{i}" for i in range(3)]
    raw = json.loads((tmp_path / sim.RESULTS).read_text())
    assert raw["format"] == sim.FORMAT and raw["format_version"] == sim.FORMAT_VERSION
    assert raw["agreement"] == raw["agreements"][0] and raw["chip"] == "lava"
    assert raw["parity"]["per_layer"][0] == {
        "layer": "0:dense",
        "equal": False,
        "mismatched": 1,
        "lava_spikes": 7,
        "torch_spikes": 8,
    }


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda r: dict(r, chip="onnx"), "field chip is 'onnx', expected its first backend 'lava'"),
        (lambda r: dict(r, backends=["lava", "gpu"]), "field backends is ['lava', 'gpu']"),
        (
            lambda r: dict(r, agreements=[dict(r["agreements"][0], compared="lava vs torch")]),
            "agreements[0]: field compared is 'lava vs torch', expected 'A vs B' with A and B two of lava, onnx, emulator",
        ),
        (
            lambda r: dict(r, parity=dict(r["parity"], first_divergence=dict(layer="x"))),
            "parity: first_divergence: field layer_index is missing",
        ),
        (lambda r: dict(r, labels=[0]), "field labels is [0], expected 3 integer labels or null"),
        (
            lambda r: dict(r, onnx=dict(r["onnx"], predictions=None)),
            "results.json: onnx: field predictions is None, expected 3 predicted classes",
        ),
        (lambda r: dict(r, format_version=2), "simulation format version 2 is older than 3"),
    ],
)
def test_the_reader_names_the_field(tmp_path, edit, words):
    record, data, _ = _record()
    sim.write(str(tmp_path), record, data)
    path = tmp_path / sim.RESULTS
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(CheckpointError) as e:
        sim.read(str(tmp_path))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_record_module_is_import_light():
    """results.py needs numpy only; the report reads it without simulate's runner (torch, Lava, onnx)."""
    code = (
        "import sys, tna_deploy.simulate.results; a = set(sys.modules); "
        "import tna_deploy.report.build; b = set(sys.modules); "
        "print(sorted({m.split('.')[0] for m in a} & {'torch', 'lava', 'onnx', 'onnxruntime', 'h5py'}), "
        "sorted(m for m in b if m.startswith('tna_deploy.simulate')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("] ")[0] == "[", out.stdout
    assert "simulate.run" not in out.stdout and "simulate.emulator" not in out.stdout, out.stdout


def test_the_sources_are_spelled_once():
    from tna_deploy.simulate.backends import RUNNERS

    assert list(RUNNERS) == list(BACKENDS) and set(BACKENDS) < set(SOURCE_NAMES)
    assert [label(s) for s in SOURCE_NAMES] == ["emulator", "Lava", "onnxruntime", "PyTorch"]
    g = sim.Comparison("onnx", "emulator", 1, 100.0, 0.0, True, [])
    assert g.compared == "onnx vs emulator" and g.label == "onnxruntime vs emulator"


def _old_synops(raster: np.ndarray, fo: np.ndarray) -> np.ndarray:
    """hardware.counts.synops as it was: numpy int64."""
    active = (raster.reshape(raster.shape[0], -1, raster.shape[-1]) != 0).astype(np.int64)
    return np.einsum("kjt,j->kt", active, fo)


def _old_collector(raster: np.ndarray, fo: np.ndarray) -> np.ndarray:
    """simulate's torch copy as it was (Collector.add)."""
    k, t = raster.shape[0], raster.shape[-1]
    f = torch.from_numpy(fo.astype(np.float64))
    active = (torch.from_numpy(raster).reshape(k, -1, t) != 0).to(torch.float32)
    if float(f.sum()) >= 1 << 24:
        active = active.to(torch.float64)
    row = torch.einsum("kjt,j->kt", active, f.to(active.dtype)).to(torch.float64)
    return row.round().to(torch.int64).numpy()


@pytest.mark.parametrize("big", [False, True])
def test_op_counting_is_defined_once_and_equals_the_old_numbers(big):
    from tna_deploy.hardware.counts import synops_of

    rng = np.random.default_rng(1)
    raster = rng.integers(-2, 3, (7, 300, 9)) * (rng.random((7, 300, 9)) < 0.4)
    fo = rng.integers(0, 1 << 20 if big else 200, 300)  # big: sums past float32's exact range
    ours = synops_of(torch.from_numpy(raster != 0), torch.from_numpy(fo.astype(np.float64))).numpy()
    assert ours.dtype == np.int64
    assert np.array_equal(ours, _old_synops(raster, fo))
    assert np.array_equal(ours, _old_collector(raster, fo))
    assert (fo.sum() >= 1 << 24) == big


def test_simulate_counts_with_the_report_definition(tmp_path):
    """counts.npz's synaptic ops are hardware.counts.synops of each layer's recorded input."""
    from tna_deploy.hardware.counts import synops
    from tna_deploy.ir import read_netx
    from tna_deploy.simulate.run import simulate

    net = small_net(tmp_path / "n.net")
    x = np.random.default_rng(3).integers(0, 2, (5, 2, 4, 4, 6)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    simulate(
        str(tmp_path / "n.net"),
        "all",
        str(tmp_path / "o"),
        input_path=str(tmp_path / "x.npy"),
        record=("spikes",),
    )
    layers = read_netx(str(tmp_path / "n.net")).compute_layers
    assert len(layers) == len(net.compute_layers)
    with np.load(tmp_path / "o" / "counts.npz") as z, np.load(tmp_path / "o" / "spikes.npz") as s:
        rasters = [s["input"]] + [s[f"emulator_L{i}"] for i in range(len(layers) - 1)]
        for i, (layer, r) in enumerate(zip(layers, rasters)):
            assert np.array_equal(z["emulator_synops"][:, i], synops(layer, r)), layer.name
        assert z["emulator_synops"].any()


def test_the_report_names_each_comparison_by_its_pair(tmp_path):
    """simulate --backend onnx,emulator: the report's JSON and Markdown compare onnx with the emulator
    (it said "Lava vs emulator" for every pair)."""
    pytest.importorskip("onnxruntime")
    import dataclasses

    from click.testing import CliRunner

    from tna_deploy.cli import main
    from tna_deploy.export.onnx_writer import write_onnx
    from tna_deploy.simulate.run import simulate

    net = dataclasses.replace(small_net(tmp_path / "n.net"), timesteps=6)
    write_onnx(net, str(tmp_path / "n.onnx"))
    x = np.random.default_rng(4).integers(0, 2, (4, 2, 4, 4, 6)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    res = simulate(
        str(tmp_path / "n.onnx"),
        "all",
        str(tmp_path / "o"),
        backends=("onnx", "emulator"),
        input_path=str(tmp_path / "x.npy"),
    )
    assert res["agreement"]["compared"] == "onnx vs emulator" and res["agreement"]["spikes_equal"]
    out = tmp_path / "r"
    r = CliRunner().invoke(
        main, ["report", str(tmp_path / "o"), "--out", str(out), "--format", "json,md"]
    )
    assert r.exit_code == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["chip"] == "onnx" and rep["agreement"]["compared"] == "onnx vs emulator"
    assert [g["compared"] for g in rep["agreements"]] == ["onnx vs emulator"]
    assert set(rep["activity"]) == {"onnx", "emulator"}
    md = (out / "report.md").read_text()
    assert "- **onnxruntime vs emulator** on 4 samples: spikes equal yes, logits equal yes" in md
    assert "Lava vs" not in md and "Lava " not in md.split("## Hardware figures")[0]
