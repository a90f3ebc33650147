"""The Loihi 2 mapper, time and energy models against lava-dl's PilotNet LIF measurement on the chip.

From network.net and image.npy alone (as lava-dl's wheel ships them): simulate the frame as the input
layer's bias for 16 steps, then report on Loihi 2, and set the figures beside what lava-dl's benchmark
notebook recorded (benchmarks/pilotnet/measured.json: 74 cores split [13, 25, 13, 3, 3, 2, 12, 1, 1, 1],
408.9-415.5 inferences/s, 0.99-1.82 mJ per inference)."""

import importlib.util
import json
import os
import re

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import no_lava

from tna_deploy.cli import main
from tna_deploy.hardware.calibration import calibrate
from tna_deploy.hardware.mapper import map_layer
from tna_deploy.hardware.profile import load_profile
from tna_deploy.report import build_report
from tna_deploy.report.build import calibration_figures
from tna_deploy.report.render import summary_lines

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
if no_lava():  # lava-dl's PilotNet ground truth ships in its wheel
    pytest.skip(no_lava(), allow_module_level=True)
MEASURED = json.load(open(os.path.join(ROOT, "benchmarks", "pilotnet", "measured.json")))
PILOT = os.path.join(
    os.path.dirname(list(importlib.util.find_spec("lava").submodule_search_locations)[0]),
    "tests/lava/lib/dl/netx/gts/pilotnet_lif",
)
STEPS = MEASURED["steps_per_inference"]


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    d = tmp_path_factory.mktemp("pilot")
    np.save(d / "image_chw.npy", np.load(os.path.join(PILOT, "image.npy")).transpose(2, 1, 0))
    args = ["simulate", os.path.join(PILOT, "network.net"), "--input", str(d / "image_chw.npy")]
    args += ["--input-drive", "bias", "--steps", str(STEPS), "--out", str(d / "sim")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.stderr
    return d


@pytest.fixture(scope="module")
def report(pilot):
    return build_report(str(pilot / "sim"), "loihi2")


def _summary(r) -> str:
    return "\n".join(summary_lines(r)).replace("**", "")


def _measured(key):
    return [x[key] for x in MEASURED["runs"]]


def test_cores_and_split_match_the_compile(report):
    got = [c.cores for c in report.feasibility.per_layer]
    want = MEASURED["cores_per_layer"]["cores"]
    assert abs(report.feasibility.total_cores - 74) <= 0.1 * 74
    assert sum(abs(a - b) for a, b in zip(got, want)) <= 2, (got, want)
    assert report.feasibility.accounting == "compiler" and report.feasibility.chips == 1
    dense = report.feasibility.per_layer[6]  # the 2560 -> 100 layer: split by synaptic memory
    assert dense.binding == "synaptic_memory" and dense.synaptic_words_per_core <= 12000
    assert report.feasibility.per_layer[0].tile == [3, 66, 16]  # Conv(16, 66, 3) in the compile


def test_dense_split_follows_the_compilers_overrun_ratio():
    """2560 axons x 100 neurons: 64,000 words (the compile: 61,440) -> 6 parts of 17 neurons, 12,800
    words (the compile: 12,800) -> 12 parts of 9: the compile's 12 cores."""
    prof = load_profile("loihi2")
    static = dict(kind="dense", out_shape=[100], neurons=100, parameters=256000, name="d")
    m = map_layer(static, prof)
    assert m["cores"] == 12 and m["neurons_per_core"] == 9 and m["words_per_core"] == 2560 * 3
    static["parameters"] = 100 * 2000  # 2000 axons: 2000 x 25 words -> ratio 5 -> 20 neurons each
    assert map_layer(static, prof)["cores"] == 5


def test_time_range_contains_the_measured_inference(report):
    tm = report.timing
    per_inf = [1 / x for x in _measured("inferences_per_second")]  # 2.41-2.45 ms
    assert tm.seconds_per_inference_low <= 2.4e-3 <= tm.seconds_per_inference_high
    assert (
        tm.seconds_per_inference_low <= min(per_inf)
        and max(per_inf) <= tm.seconds_per_inference_high
    )
    assert tm.inferences_per_second_low <= 408.91 and 415.51 <= tm.inferences_per_second_high
    assert (
        tm.seconds_per_inference_high / tm.seconds_per_inference_low < 1.2
    )  # a range, not a shrug
    assert tm.binding_term_low == "synaptic ops" and tm.kind == "calibrated estimate"


def test_energy_range_overlaps_the_measured_one(report):
    e = report.energy.mean
    lo, hi = e.low_nJ * 1e-6, e.high_nJ * 1e-6  # mJ
    assert lo <= 1.818389 and 0.990769 <= hi  # overlaps 0.99-1.82 mJ
    assert hi / lo < 2.5 and e.complete and e.static is not None and e.static.chips == 1
    dynamic = (e.low_nJ - e.static.nJ) * 1e-6, (e.high_nJ - e.static.nJ_max) * 1e-6
    assert dynamic[0] <= 0.562239 * 1.01 and 1.093544 * 0.99 <= dynamic[1]


def test_report_names_its_basis_and_the_distance(report):
    lines = _summary(report)
    assert "calibrated on lava-dl's PilotNet LIF measurements (Loihi 2, 2022-23)" in lines
    assert report.basis.within_2x and all(
        r == pytest.approx(1, rel=0.01) for r in report.basis.ratios.values()
    )


def test_profile_holds_what_the_calibration_computes(report):
    """The calibrated figures in loihi2.toml are what calibrate() gives from the measurement and this
    model of PilotNet: a change to the mapper or the counts that moves them fails here."""
    prof = report.hardware
    ips = _measured("inferences_per_second")
    tot = report.totals[report.chip]
    work = [c.to_dict() for c in report.timing.cores]
    b = prof["barrier_seconds"]
    cal = calibrate(
        work,
        tot.synops_per_inference_mean,
        tot.neuron_updates_per_inference,
        dict(
            seconds_per_step=[1 / (max(ips) * STEPS), 1 / (min(ips) * STEPS)],
            dynamic_mJ=[min(_measured("dynamic_energy_mJ")), max(_measured("dynamic_energy_mJ"))],
            static_W=[min(_measured("static_power_W")), max(_measured("static_power_W"))],
        ),
        (b.value, b.value_max),
        prof["energy_synop_pj"].value,
    )
    for k, (lo, hi) in cal.items():
        f = prof[k]
        assert f.value == pytest.approx(lo, rel=5e-3, abs=1e-9), k
        assert (f.value_max or f.value) == pytest.approx(hi, rel=5e-3), k
    ref = calibration_figures(report.activity[report.chip], tot, work, STEPS)
    for k, v in ref.items():
        assert getattr(prof.calibration, k) == pytest.approx(v, rel=5e-3), k


def _without(tmp_path, *tables, unknown=()):
    """loihi2.toml less some optional tables, and with some figures made unknown."""
    text = open(os.path.join(ROOT, "tna_deploy", "hardware", "profiles", "loihi2.toml")).read()
    for t in tables:
        text = re.sub(rf"(?s)\n\[{t}\]\n.*?(?=\n\[|\n# ----|\Z)", "\n", text)
    for t in unknown:
        text = re.sub(
            rf"(?s)\[{t}\]\n.*?(?=\n\n)",
            f'[{t}]\nvalue = "unknown"\nstatus = "unknown"\nsource = "not published"',
            text,
        )
    p = tmp_path / "partial.toml"
    p.write_text(text)
    return str(p)


def test_a_profile_missing_figures_gives_a_clear_partial_answer(pilot, tmp_path):
    no_barrier = build_report(str(pilot / "sim"), _without(tmp_path, "barrier_seconds"))
    assert not no_barrier.timing.known
    lines = _summary(no_barrier)
    assert "time: unknown (the profile lacks barrier_seconds)" in lines
    assert "dynamic energy only" in lines  # no time, so no static energy: said so
    no_update = build_report(
        str(pilot / "sim"), _without(tmp_path, unknown=["energy_neuron_update_pj"])
    )
    assert "energy per inference: unknown in total, because energy_neuron_update_pj is unknown" in (
        _summary(no_update)
    )
    no_spike_time = build_report(str(pilot / "sim"), _without(tmp_path, "time_spike_ns"))
    assert no_spike_time.timing.kind.startswith("partial") and no_spike_time.timing.known
    assert no_spike_time.timing.depends_on_unknown == ["time_spike_ns"]


def test_loihi1_keeps_davies_figures_and_plain_limits(pilot):
    r = build_report(str(pilot / "sim"), "loihi1")
    assert r.feasibility.accounting == "per-core limits" and r.timing is None and r.basis is None
    assert r.energy.mean.kind == "lower bound" and r.energy.mean.static is None
    assert "time: unknown" in _summary(r)
