"""export --format nir: nir.read rebuilds the same graph, the CUBA mapping is Loihi's at dt, and three
readers run the file on real samples as closely as the docs say: NIR's node definitions themselves
(Euler, float64), snnTorch's importer and Norse's (independent readers), each against the emulator.
Where Norse departs from NIR's definitions (a CubaLIF with a leak voltage), a test shows it."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

nir = pytest.importorskip("nir")

from nir_readers import (  # noqa: E402
    lif_names,
    nir_definition_run,
    norse_model,
    norse_run,
    norse_states,
    snntorch_run,
)

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
    for name, node in graph.nodes.items():  # no inf / NaN: NIR's equations must evaluate
        for key, value in node.to_dict().items():
            if key != "metadata" and isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert np.isfinite(value).all(), (name, key)
    graph_diff_bad = build_graph(ir)
    graph_diff_bad.nodes["lif1"].v_threshold = graph_diff_bad.nodes["lif1"].v_threshold + 1
    assert "lif1" in graph_difference(graph_diff_bad, graph)  # the check can fail


def test_decays_map_to_time_constants_at_dt():
    for d in (1, 7, 1024, 2048, 4095, 4096):
        assert abs((1 - DT / tau(d)) - (1 - d / 4096)) < 1e-12
    # no decay: a finite time constant whose leak is nothing in float32 (r = tau / dt is finite too)
    assert np.isfinite(tau(0)) and np.float32(1 - DT / tau(0)) == np.float32(1.0)
    assert 1 - DT / tau(0) < 1 and tau(0) > tau(1)


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


def _real_samples(ir, net, n):
    data_dir = (
        REAL_FMNIST
        if os.path.isfile(os.path.join(REAL_FMNIST, "t10k-images-idx3-ubyte.gz"))
        else None
    )
    return dataset_inputs(ir, net, n, data_dir, None).chunk(0, n)


def _agrees_with_the_emulator(ir, x, mems, counts):
    """What the docs promise of a NIR reader: >= 95 % of predictions agree with the emulator's, the
    spike counts correlate >= 0.99 in every layer that fires, the read-out voltage / 64 is within 0.5
    of the emulator's logits. Returns the prediction agreement."""
    want = Emulator(ir).run(x)
    ours = np.array([[s[k].sum() for s in want.spikes] for k in range(len(x))])
    assert np.isfinite(mems).all()
    agree = float((mems.argmax(1) == want.logits.argmax(1)).mean())
    assert agree >= 0.95, agree
    for j in range(ours.shape[1] - 1):  # the read-out never fires
        assert ours[:, j].sum() > 0
        assert np.corrcoef(counts[:, j], ours[:, j])[0, 1] >= 0.99, j
    assert np.abs(mems / 64 - want.logits).max() <= 0.5  # logits in the emulator's units: v / 64
    return agree


def test_nir_definitions_run_the_file_on_real_samples_as_closely_as_documented(nir_file):
    run, net, path = nir_file
    ir = read_netx(net)
    x = _real_samples(ir, net, 30)
    _agrees_with_the_emulator(ir, x, *nir_definition_run(nir.read(path), x, DT))


def test_snntorch_runs_the_file_on_real_samples_as_closely_as_documented(nir_file):
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    run, net, path = nir_file
    ir = read_netx(net)
    x = _real_samples(ir, net, 30)
    _agrees_with_the_emulator(ir, x, *snntorch_run(nir.read(path), x))


NORSE = "norse is not installed (pip install norse==1.1.0, in the test extra)"


def test_norse_runs_the_file_on_real_samples_as_closely_as_documented(nir_file):
    """Norse 1.1.0's from_nir at dt = 1e-4. The read-out has no voltage decay; written as an infinite
    time constant (before) its voltage was 0 * inf = NaN in Norse and the predictions chance."""
    pytest.importorskip("norse", reason=NORSE)
    run, net, path = nir_file
    ir = read_netx(net)
    x = _real_samples(ir, net, 30)
    graph = nir.read(path)
    assert ir.compute_layers[-1].neuron.voltage_decay == 0  # the case that was NaN
    _agrees_with_the_emulator(ir, x, *norse_run(graph, x, DT))


def _biased_net():
    """One dense layer with a bias and no input: the bias alone drives v to the threshold."""
    n = Neuron(threshold=100, current_decay=1024, voltage_decay=512)
    dense = Layer("dense", 1, (2,), (3,), n, np.ones((3, 2), int), bias=np.array([7, 20, 33]))
    return DeployedNet((Layer("input", 0, (2,), (2,)), dense), (2,), timesteps=12)


def test_a_bias_runs_as_nir_defines_it_and_norse_departs(tmp_path):
    """A Loihi bias is NIR's v_leak (``v_leak = bias * tau_mem / dt``). NIR's CubaLIF has no leak
    voltage in its current equation and says nothing of states starting anywhere but 0; Norse 1.1.0's
    from_nir gives the synapse (a leaky integrator) the node's v_leak, and starts both the current and
    the voltage at v_leak, so with no input at all its current is v_leak and every neuron fires at
    once. NIR's definitions give the emulator's spikes; snnTorch refuses a v_leak (docs)."""
    ir = _biased_net()
    graph = build_graph(ir)
    x = np.zeros((1, 2, 12), np.int32)
    want = Emulator(ir).run(x).spikes[0][0].sum(-1)
    _, counts = nir_definition_run(graph, x, DT)
    assert 0 < want.sum() < want.size * 12 and counts[0, 0] == want.sum()
    pytest.importorskip("norse", reason=NORSE)
    model = norse_model(graph, DT)
    with torch.no_grad():
        z, state = model(torch.zeros(2))
    syn, lif = norse_states(state, lif_names(graph)[0])
    v_leak = graph.nodes["lif1"].v_leak
    assert np.allclose(syn.v.numpy(), v_leak)  # NIR: I stays 0 without input spikes
    assert z.numpy().all()  # Norse: every neuron fires in the first step
    _, norse_counts = norse_run(graph, x, DT)
    assert norse_counts[0, 0] > 3 * want.sum()


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
