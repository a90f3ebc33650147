"""Profiles and the report command end to end on a small simulated model."""

import json
import os
import re
import shutil

import pytest
from click.testing import CliRunner
from helpers import conv_dense_net, tiny_config

from tna_deploy.cli import main
from tna_deploy.errors import CheckpointError, ConfigError
from tna_deploy.hardware.profile import FIELDS, OPTIONAL, load_profile

HW = os.path.join(os.path.dirname(__file__), "..", "..", "tna_deploy", "hardware", "profiles")


def test_shipped_profiles_parse_with_sources():
    for name in ("loihi2", "loihi1"):
        p = load_profile(name)
        assert set(FIELDS) <= set(p.figures) <= set(FIELDS + OPTIONAL)
        assert all(f.source and f.status for f in p.figures.values())
    assert load_profile("loihi2")["energy_neuron_update_pj"].status == "calibrated"
    assert load_profile("loihi2").calibration.network == "lava-dl's PilotNet LIF"
    assert load_profile("loihi1")["energy_synop_pj"].status == "lower-bound"


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda t: t.replace('status = "code"', 'status = "rumour"', 1), "status 'rumour'"),
        (
            lambda t: t.replace("value = 128\n", "value = -3\n", 1),
            "field cores_per_chip: value must be",
        ),
        (
            lambda t: t.replace("[energy_spike_pj]", "[energy_spike_pj_typo]"),
            "field energy_spike_pj is missing",
        ),
        (
            lambda t: re.sub(r'(?m)^source = "not published per op for Loihi 2.*\n', "", t),
            "field energy_neuron_update_pj lacks source",
        ),
        (lambda t: t + "\n[[[", "not valid TOML"),
    ],
)
def test_malformed_profile_names_the_field(tmp_path, edit, words):
    text = open(os.path.join(HW, "loihi2.toml")).read()
    p = tmp_path / "mine.toml"
    p.write_text(edit(text))
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace("[", r"\[")):
        load_profile(str(p))


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="loihi1, loihi2"):
        load_profile("loihi9")


@pytest.fixture(scope="module")
def simulated(fmnist_dir, tmp_path_factory):
    from tna_deploy.export import to_netx
    from tna_deploy.simulate.run import simulate
    from tna_deploy.train.loop import train

    d = tmp_path_factory.mktemp("rep")
    train(
        tiny_config(fmnist_dir, quantize_epoch=0, epochs=1, limit_test=16, seed=2), str(d / "run")
    )
    to_netx(str(d / "run"), str(d / "net.net"))
    simulate(str(d / "net.net"), 4, str(d / "sim"), run_dir=str(d / "run"))
    return d


@pytest.mark.slayer
def test_report_cli_writes_all_formats(simulated):
    out = simulated / "report"
    res = CliRunner().invoke(
        main, ["report", str(simulated / "sim"), "--hardware", "loihi2", "--out", str(out)]
    )
    assert res.exit_code == 0, res.stderr
    assert "cores on Loihi 2" in res.stdout and "(calibrated estimate: static" in res.stdout
    assert "time: " in res.stdout and "inferences/s" in res.stdout and "basis: " in res.stdout
    r = json.load(open(out / "report.json"))
    assert (
        r["format"] == "tna-deploy-report" and r["format_version"] == 3 and r["chip"] == "emulator"
    )
    assert r["feasibility"]["accounting"] == "compiler" and r["timing"]["seconds_per_step_low"] > 0
    assert [s["mode"] for s in r["layers"]] == ["int8", "fp", "ternary", "int8"]
    lava, torch_ = r["activity"]["emulator"], r["activity"]["torch"]
    assert [a["synops"] for a in lava] == [
        a["synops"] for a in torch_
    ]  # parity carries to the counts
    assert lava[0]["op_type"] == "MAC" and all(a["op_type"] == "AC" for a in lava[1:])
    assert r["memory"]["compression_vs_fp32"] > 4 and r["feasibility"]["total_cores"] >= 4
    md = (out / "report.md").read_text()
    assert "| 3:dense | ternary |" in md and "## Assumptions" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "<table" in html


@pytest.mark.slayer
def test_report_with_loihi1_has_a_full_energy_range(simulated):
    out = simulated / "r1"
    res = CliRunner().invoke(
        main,
        [
            "report",
            str(simulated / "sim"),
            "--hardware",
            "loihi1",
            "--out",
            str(out),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    e = json.load(open(out / "report.json"))["energy"]["mean"]
    assert e["complete"] and e["kind"] == "lower bound" and 0 < e["low_nJ"] < e["high_nJ"]
    assert not (out / "report.html").exists()


@pytest.mark.slayer
def test_report_bad_inputs_are_one_line(simulated, tmp_path):
    def err(args):
        res = CliRunner().invoke(main, ["report", *args, "--out", str(tmp_path / "o")])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.stderr
        return lines[0]

    assert "no such folder" in err([str(tmp_path / "nothing")])
    assert "--format" in err([str(simulated / "sim"), "--format", "pdf"])
    assert "unknown profile" in err([str(simulated / "sim"), "--hardware", "tpu"])
    broken = tmp_path / "broken"
    shutil.copytree(simulated / "sim", broken)
    (broken / "counts.npz").write_bytes(b"garbage")
    assert "not the file this simulate output was written with" in err([str(broken)])


def test_report_rows_of_a_file_whose_input_layer_has_a_neuron(tmp_path):
    """The counts index every compute layer, the input neuron's included: the conv's row must show the
    conv's synaptic ops and the input neuron's spikes as its input, not the next layer's."""
    import numpy as np

    from tna_deploy.ir import Neuron, write_netx
    from tna_deploy.report import build_report
    from tna_deploy.simulate.run import simulate

    n = Neuron(threshold=2000, current_decay=4096, voltage_decay=1024)
    inp = Neuron(threshold=10, current_decay=2000, voltage_decay=500)
    net = conv_dense_net(n, input_neuron=inp, dense=np.ones((2, 12), int) * 20)
    write_netx(net, str(tmp_path / "in.net"))
    np.save(
        tmp_path / "x.npy",
        np.random.default_rng(2).integers(0, 30, (4, 2, 4, 4, 6)).astype(np.int16),
    )
    simulate(
        str(tmp_path / "in.net"),
        "all",
        str(tmp_path / "o"),
        backends=("emulator",),
        input_path=str(tmp_path / "x.npy"),
    )
    with np.load(tmp_path / "o" / "counts.npz") as z:
        syn, counts = z["emulator_synops"], z["emulator_counts"]
    assert syn.shape[1] == 3 and not syn[:, 0].any() and syn[:, 1].any() and counts[:, 0].any()
    rep = build_report(str(tmp_path / "o"))
    rows = rep.activity["emulator"]
    assert [r.layer for r in rows] == [layer.name for layer in net.compute_layers]
    inp, conv, dense = rows
    assert inp.synops.per_inference_mean == 0 and inp.synops_dense_per_inference == 0
    assert inp.spikes_out.per_inference_mean == pytest.approx(counts[:, 0].sum(axis=1).mean())
    # the input neurons count as neurons, neuron updates and cores; they hold no weights
    assert rep.memory.neurons == 32 + 12 + 2 and rep.layers[0].weight_bytes_chip == 0
    assert rep.totals["emulator"].neuron_updates_per_inference == (32 + 12 + 2) * 6
    assert rep.feasibility.per_layer[0].cores == 1
    assert rep.latency.first_result_after_steps == 6 + 2
    assert conv.synops.per_inference_mean == pytest.approx(syn[:, 1].sum(axis=1).mean())
    assert conv.spikes_in.per_inference_mean == pytest.approx(counts[:, 0].sum(axis=1).mean())
    assert conv.spikes_out.per_inference_mean == pytest.approx(counts[:, 1].sum(axis=1).mean())
    assert dense.synops.per_inference_mean == pytest.approx(syn[:, 2].sum(axis=1).mean())
    assert dense.spikes_in.per_inference_mean == pytest.approx(counts[:, 1].sum(axis=1).mean())
    # every row of report.json has the same keys in the same order, the input layer's too
    layers = json.loads(rep.to_json())["layers"]
    assert all(list(row) == list(layers[1]) for row in layers)


@pytest.mark.slayer
def test_report_json_round_trips_through_the_tree(simulated, tmp_path):
    """report.json is the tree's to_json, and the reader gives the same tree back: bytes to tree to bytes,
    units and statuses included (unknown figures stay null)."""
    from tna_deploy.report import Report, read

    out = tmp_path / "r"
    text = open(os.path.join(HW, "loihi2.toml")).read()  # one figure unknown: it stays null
    unknown = 'value = "unknown"\nstatus = "unknown"\nsource = "not published"\n\n'
    prof = tmp_path / "p.toml"
    prof.write_text(
        re.sub(
            r"(?s)\[energy_neuron_update_pj\].*?\n\n",
            lambda m: "[energy_neuron_update_pj]\n" + unknown,
            text,
        )
    )
    res = CliRunner().invoke(
        main,
        [
            "report",
            str(simulated / "sim"),
            "--out",
            str(out),
            "--format",
            "json",
            "--hardware",
            str(prof),
        ],
    )
    assert res.exit_code == 0, res.stderr
    text = (out / "report.json").read_text()
    tree = read(str(out / "report.json"))
    assert isinstance(tree, Report) and tree.to_json() == text
    assert Report.from_dict(json.loads(text)) == tree
    assert tree.parity.label == "emulator vs PyTorch" and tree.parity.spikes_equal
    figure = tree.hardware.figures["energy_neuron_update_pj"]
    assert figure.value is None and figure.status == "unknown" and figure.source
    assert json.loads(text)["hardware"]["figures"]["energy_neuron_update_pj"]["value"] is None
    unknown = [t for t in tree.energy.mean.terms if t.status == "unknown"]
    assert unknown and all(t.nJ is None and "pj_per_op" not in t.to_dict() for t in unknown)
    # a report of another format or version is one line naming the file
    bad = json.loads(text) | {"format_version": 99}
    (out / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="bad.json"):
        read(str(out / "bad.json"))
    del bad["format_version"], bad["memory"]
    with pytest.raises(CheckpointError, match="bad.json"):
        Report.from_dict(bad | {"format_version": 3}, str(out / "bad.json"))


def _named(text: str, cell: str, bold: str) -> dict:
    """Headings, bold summary labels, and every table's first column and header, from one rendering."""
    import re

    return dict(
        headings=re.findall(r"(?m)^## (.+)$" if cell == "md" else r"<h2>(.*?)</h2>", text),
        labels=re.findall(bold, text),
        cells=re.findall(
            r"(?m)^\| ([^|]+?) \|" if cell == "md" else r"<tr><t[dh]>(.*?)</t[dh]>", text
        ),
    )


@pytest.mark.slayer
def test_markdown_and_html_name_the_same_figures(simulated):
    """Both read one document of the tree: the same summary, tables, figures and units, each with its
    status and source; HTML adds only the plots."""
    import html as _html

    from tna_deploy.report import build_report
    from tna_deploy.report.render import render_html, to_markdown

    rep = build_report(str(simulated / "sim"), "loihi2")
    md, page = to_markdown(rep), _html.unescape(render_html(rep))
    md_names = _named(md, "md", r"\*\*(.+?)\*\*")
    page_names = _named(
        page.replace("<code>", "`").replace("</code>", "`"), "html", r"<b>(.*?)</b>"
    )
    page_names["headings"].remove("Plots")
    assert md_names == page_names
    assert set(rep.hardware.figures) <= set(md_names["cells"])
    for term in rep.energy.mean.terms:  # every energy term in both, with its status
        assert f"| {term.term} |" in md and f"<td>{term.term}</td>" in page
        assert term.status in md.split(f"| {term.term} |")[1].split("\n")[0]
    for unit in ("KiB", "nJ", "pJ per op", "synops", "T = 3 timesteps"):
        assert unit in md and unit in page, unit
