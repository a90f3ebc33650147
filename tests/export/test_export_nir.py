"""export --format nir: nir.read rebuilds the same graph, the CUBA mapping is Loihi's at dt, and snnTorch's
own NIR importer (an independent reader) runs the file on real samples as closely as the README says."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

nir = pytest.importorskip("nir")

from tna_deploy.engine.emulator import Emulator  # noqa: E402
from tna_deploy.export.nir_writer import (  # noqa: E402
    DT,
    NirExportError,
    build_graph,
    graph_difference,
    tau,
    ungroup,
    write_nir,
)
from tna_deploy.ir import DeployedNet, Layer, Neuron, read_netx  # noqa: E402
from tna_deploy.simulate.run import dataset_inputs  # noqa: E402

REAL_FMNIST = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="module")
def nir_file(exported):
    run, net, d = exported
    path = str(d / "net.nir")
    summary = write_nir(read_netx(net), path)
    assert "read back the same graph" in summary["checked"]
    return run, net, path


def test_round_trip_and_exact_integers_in_metadata(nir_file):
    _, net, path = nir_file
    ir = read_netx(net)
    graph = nir.read(path)
    assert graph_difference(build_graph(ir), graph) == ""
    kinds = [type(graph.nodes[a]).__name__ for a, _ in graph.edges] + ["Output"]
    assert kinds[0] == "Input" and kinds[-1] == "Output" and "Flatten" in kinds
    assert {"Conv2d", "Linear", "CubaLIF"} <= set(kinds)
    for layer in ir.compute_layers:
        syn = graph.nodes[f"{layer.kind}{layer.index}"]
        lif = graph.nodes[f"lif{layer.index}"]
        assert np.array_equal(syn.metadata["tna_deploy_weight"], layer.weight)
        assert int(lif.metadata["tna_deploy_threshold_mant"]) == layer.neuron.threshold
        assert np.all(lif.v_threshold == layer.neuron.threshold)
        assert int(lif.metadata["tna_deploy_voltage_decay"]) == layer.neuron.voltage_decay
    graph_diff_bad = build_graph(ir)
    graph_diff_bad.nodes["lif1"].v_threshold = graph_diff_bad.nodes["lif1"].v_threshold + 1
    assert "lif1" in graph_difference(graph_diff_bad, graph)  # the check can fail


def test_decays_map_to_time_constants_at_dt():
    for d in (1, 7, 1024, 2048, 4095, 4096):
        assert abs((1 - DT / tau(d)) - (1 - d / 4096)) < 1e-12
    assert tau(0) == float("inf")


def test_ungrouped_conv_equals_the_grouped_one():
    w = torch.from_numpy(np.random.default_rng(0).integers(-5, 6, (6, 2, 3, 3)).astype(np.float32))
    x = torch.randn(2, 6, 7, 7)
    full = torch.from_numpy(ungroup(w.numpy(), 3))
    assert full.shape == (6, 6, 3, 3)
    assert torch.allclose(
        F.conv2d(x, w, groups=3, padding=1), F.conv2d(x, full, padding=1), atol=1e-5
    )


def test_delays_are_refused_naming_the_layer(tmp_path):
    n = Neuron(threshold=64, current_decay=4096, voltage_decay=1024)
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
    with pytest.raises(NirExportError, match="layer d1: dense delays"):
        write_nir(
            DeployedNet((Layer("input", 0, (3,), (3,)), dense), (3,), timesteps=2),
            str(tmp_path / "x.nir"),
        )
    assert not os.listdir(tmp_path)


def _snntorch_run(graph, x: np.ndarray):
    """Each sample through snnTorch's import of the graph, unbatched as NIR defines shapes, one step per call:
    the read-out's membrane at the last step (weight units) and every CubaLIF's spike count."""
    import snntorch.utils
    from snntorch.import_nir import import_from_nir

    model = import_from_nir(graph)
    lifs = {name: mod for name, mod in model.named_modules() if name.startswith("lif")}
    order = sorted(lifs, key=lambda n: int(n[3:]))
    mems, counts = [], []
    with torch.no_grad():
        for sample in x:
            snntorch.utils.reset(model)
            c = dict.fromkeys(order, 0.0)
            hooks = [
                lifs[n].register_forward_hook(
                    lambda m, i, o, n=n, c=c: c.__setitem__(
                        n, c[n] + float((o[0] if isinstance(o, tuple) else o).sum())
                    )
                )
                for n in order
            ]
            for t in range(x.shape[-1]):
                model(torch.from_numpy(sample[..., t].astype(np.float32)))
            for h in hooks:
                h.remove()
            mems.append(lifs[order[-1]].mem.numpy().reshape(-1).copy())
            counts.append([c[n] for n in order])
    return np.array(mems), np.array(counts)


def test_snntorch_runs_the_file_on_real_samples_as_closely_as_documented(nir_file):
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    run, net, path = nir_file
    ir = read_netx(net)
    data_dir = (
        REAL_FMNIST
        if os.path.isfile(os.path.join(REAL_FMNIST, "t10k-images-idx3-ubyte.gz"))
        else None
    )
    x = dataset_inputs(ir, net, 30, data_dir, None).chunk(0, 30)
    mems, counts = _snntorch_run(nir.read(path), x)
    want = Emulator(ir).run(x)
    ours = np.array([[s[k].sum() for s in want.spikes] for k in range(len(x))])
    agree = float((mems.argmax(1) == want.logits.argmax(1)).mean())
    assert agree >= 0.95, agree  # README: >= 95 % of predictions agree
    for j in range(ours.shape[1] - 1):  # the read-out never fires
        assert ours[:, j].sum() > 0
        assert np.corrcoef(counts[:, j], ours[:, j])[0, 1] >= 0.99, j
    assert np.abs(mems / 64 - want.logits).max() <= 0.5  # logits in the emulator's units: v / 64


def test_cli_writes_nir_from_a_run_and_from_a_netx_file(nir_file, tmp_path):
    run, net, _ = nir_file
    for source in (run, net):
        out = str(tmp_path / (os.path.basename(source) + ".nir"))
        r = subprocess.run(
            [sys.executable, "-m", "tna_deploy", "export", source, "--format", "nir", "--out", out],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        assert (
            "checked: nir" in r.stdout
            and graph_difference(build_graph(read_netx(net)), nir.read(out)) == ""
        )
