"""Strings from results.json, the netx metadata or a profile are escaped in report.html (issue 10, #9)."""

import json
import os
import shutil

import pytest
from click.testing import CliRunner
from helpers import reseal, tiny_config

from tna_deploy.cli import main

EVIL = "<script>alert(1)</script>"
HW = os.path.join(
    os.path.dirname(__file__), "..", "..", "tna_deploy", "hardware", "profiles", "loihi2.toml"
)


@pytest.fixture(scope="module")
def sim_dir(fmnist_dir, tmp_path_factory):
    from tna_deploy.export import to_netx
    from tna_deploy.simulate.run import simulate
    from tna_deploy.train.loop import train

    d = tmp_path_factory.mktemp("esc")
    train(
        tiny_config(fmnist_dir, quantize_epoch=0, epochs=1, limit_train=32, limit_test=8),
        str(d / "run"),
    )
    to_netx(str(d / "run"), str(d / "net.net"))
    simulate(str(d / "net.net"), 2, str(d / "sim"))
    return d / "sim"


def _poison(obj, key=None):
    """Append EVIL to every string value (not keys: the report looks values up by them; not the chip,
    nor the format, which the reader checks)."""
    if isinstance(obj, dict):
        return {k: _poison(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_poison(v, key) for v in obj]
    return obj + EVIL if isinstance(obj, str) and key not in ("chip", "format") else obj


@pytest.mark.slayer
def test_every_string_of_the_report_is_escaped(sim_dir):
    from tna_deploy.report import Report, build_report
    from tna_deploy.report.render import render_html

    r = Report.from_dict(_poison(build_report(str(sim_dir), "loihi2").to_dict()))
    r.samples, r.timesteps = EVIL, EVIL + "3"  # numbers in a sane file, anything in a hostile one
    html = render_html(r)
    assert "<script" not in html.lower()
    assert (
        html.count("&lt;script&gt;alert(1)&lt;/script&gt;") > 20
    )  # layer names, sources, paths, ...


@pytest.mark.slayer
def test_script_in_results_and_profile_comes_out_escaped(sim_dir, tmp_path):
    hostile = tmp_path / "hostile-sim"
    shutil.copytree(sim_dir, hostile)
    results = json.loads((hostile / "results.json").read_text())
    results["dataset"] = EVIL
    (hostile / "results.json").write_text(json.dumps(results))
    reseal(hostile)
    res = CliRunner().invoke(
        main, ["report", str(hostile), "--out", str(tmp_path / "no"), "--format", "html"]
    )
    assert (
        res.exit_code == 2 and "does not match the simulation" in res.stderr
    )  # cross-checked, refused
    toml = open(HW).read().replace('name = "', f'name = "{EVIL}', 1)
    (tmp_path / "evil.toml").write_text(toml.replace('source = "', f'source = "{EVIL}', 1))
    out = tmp_path / "rep"
    res = CliRunner().invoke(
        main,
        [
            "report",
            str(sim_dir),
            "--hardware",
            str(tmp_path / "evil.toml"),
            "--out",
            str(out),
            "--format",
            "html",
        ],
    )
    assert res.exit_code == 0, res.stderr
    html = (out / "report.html").read_text()
    assert "<script" not in html.lower() and html.count("&lt;script&gt;") >= 2
    assert "evil.toml" in html  # which profile file was used
