"""Every netx file lava-dl ships in its wheel simulates from the command line (each input as one stream,
as lava-dl's own tests run them), and reports."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from lavadl import netx_tests

from tna_deploy.cli import main
from tna_deploy.ir import read_netx

FILES = [
    "mnist.net",
    "tiny.net",
    "gts/pilotnet_lif/network.net",
    "gts/pilotnet_sdnn/network.net",
    "gts/pilotnet_sdnn/square_network.net",
    "gts/ntidigits/ntidigits.net",
]


def test_these_are_all_the_wheel_holds():
    root = netx_tests()
    found = {os.path.relpath(p, root) for p in glob.glob(f"{root}/**/*.net", recursive=True)}
    assert found == set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_simulate_and_report(tmp_path, name):
    path = os.path.join(netx_tests(), name)
    net = read_netx(path)
    rng = np.random.default_rng(0)
    shape = (2,) + tuple(net.input_shape) + (6,)
    x = rng.integers(-30, 60, shape) if net.input_neuron else (rng.random(shape) < 0.3)
    np.save(tmp_path / "x.npy", x.astype(np.int32))
    sim = tmp_path / "sim"
    r = CliRunner().invoke(
        main, ["simulate", path, "--input", str(tmp_path / "x.npy"), "--stream", "--out", str(sim)]
    )
    assert r.exit_code == 0, r.output
    res = json.loads((sim / "results.json").read_text())
    assert res["samples"] == 2 and res["timesteps"] == 6
    r = CliRunner().invoke(main, ["report", str(sim), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "report.json").is_file()
