"""Malformed inputs get one line naming the file, the field and what was expected (issue 10, #5).

Every case starts from a real run, export and simulation (the ``exported`` fixture), damages one thing
and runs the command a user would: one ``error: ...`` line, exit 2, no traceback, nothing silently
computed from the damaged file.
"""

from __future__ import annotations

import json
import math
import os
import shutil

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import reseal, tiny_config

from tna_deploy.cli import main
from tna_deploy.errors import CheckpointError, ConfigError
from tna_deploy.simulate.run import FORMAT_VERSION as SIM_VERSION
from tna_deploy.train.config import TrainConfig

KEY = "blocks.0.synapse.weight"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res, *words, code=2):
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr, res.exception)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


# ---- checkpoints ----------------------------------------------------------------------------------
def _damaged_run(exported, tmp_path, edit):
    run_dir = tmp_path / "run"
    shutil.copytree(exported[0], run_dir)
    path = run_dir / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, path)
    return run_dir


@pytest.mark.parametrize(
    "edit, words",
    [
        (
            lambda c: c["base"].pop(KEY),
            ["checkpoint.pt", f"tensor base['{KEY}'] is missing", "expected shape (4, 1, 3, 3, 1)"],
        ),
        (
            lambda c: c["base"].__setitem__(KEY, torch.zeros(3, 3)),
            [f"tensor base['{KEY}'] has shape (3, 3)", "expected (4, 1, 3, 3, 1)"],
        ),
        (
            lambda c: c["base"].__setitem__(KEY, torch.full((4, 1, 3, 3, 1), math.nan)),
            [f"tensor base['{KEY}'] holds NaN"],
        ),
        (
            lambda c: c["base"].__setitem__("blocks.9.extra", torch.zeros(1)),
            ["base holds tensor 'blocks.9.extra'"],
        ),
        (
            lambda c: c.pop("epoch"),
            ["checkpoint.pt: field epoch is missing", "expected the number of finished epochs"],
        ),
        (lambda c: c.__setitem__("epoch", "2"), ["field epoch is '2'"]),
        (
            lambda c: c["config"].__setitem__("timesteps", "x"),
            ["checkpoint.pt: config: field timesteps is 'x'", "expected an integer"],
        ),
        (
            lambda c: c["config"].__setitem__("timesteps", 0),
            ["checkpoint.pt: config: field timesteps must be at least 1"],
        ),
        (
            lambda c: c["meta"].__setitem__("in_shape", [1, 28]),
            ["field meta.in_shape is [1, 28]", "expected three positive integers"],
        ),
        (
            lambda c: c["config"].__setitem__("width", 1000.0),
            ["field config describes a network of", "weights"],
        ),
        (lambda c: c["twins"].pop(), ["field twins holds 0 networks, expected 1"]),
    ],
)
def test_damaged_checkpoint_is_one_line(exported, tmp_path, edit, words):
    run_dir = _damaged_run(exported, tmp_path, edit)
    one_line_error(run("export", run_dir, "--out", tmp_path / "x.net"), *words)
    assert not (tmp_path / "x.net").exists()


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c.pop("optimizer"), ["field optimizer is missing", "expected Adam's state"]),
        (lambda c: c.pop("scheduler"), ["field scheduler is missing"]),
        (
            lambda c: c.__setitem__("rng", torch.zeros(3)),
            ["field rng is a tensor of shape (3,)", "uint8 tensor"],
        ),
        (
            lambda c: c["optimizer"]["state"][0].__setitem__("exp_avg", torch.zeros(2)),
            [
                "field optimizer.state[0].exp_avg is a tensor of shape (2,)",
                "expected a float tensor of shape (4, 1, 3, 3, 1)",
            ],
        ),
        (
            lambda c: c["optimizer"]["param_groups"][0].__setitem__("lr", "fast"),
            ["field optimizer.param_groups.lr is 'fast'"],
        ),
        (
            lambda c: c["scheduler"].__setitem__("optimizer", 1),
            ["field scheduler.optimizer is not part of the schedule"],
        ),
        (lambda c: c["twins"][0].pop(KEY), [f"tensor twins[0]['{KEY}'] is missing"]),
        (lambda c: c.pop("history"), ["field history is missing"]),
    ],
)
def test_damaged_checkpoint_on_resume_is_one_line(exported, tmp_path, edit, words):
    run_dir = _damaged_run(exported, tmp_path, edit)
    before = (run_dir / "checkpoint.pt").read_bytes()
    one_line_error(run("train", "--out", run_dir, "--resume"), "checkpoint.pt", *words)
    assert (run_dir / "checkpoint.pt").read_bytes() == before


def test_run_config_json_names_the_field(exported, tmp_path):
    run_dir = tmp_path / "early"
    run_dir.mkdir()
    saved = json.load(open(os.path.join(exported[0], "config.json")))
    (run_dir / "config.json").write_text(json.dumps(dict(saved, epochs="many")))
    one_line_error(
        run("train", "--out", run_dir, "--resume"),
        "config.json: field epochs is 'many'",
        "expected an integer",
    )


# ---- netx files -----------------------------------------------------------------------------------
def _damaged_net(exported, tmp_path, edit, name="bad.net"):
    p = tmp_path / name
    shutil.copy(exported[1], p)
    with h5py.File(p, "r+") as f:
        edit(f)
    return p


def _replace(f, name, value):
    del f[name]
    f[name] = value


def _first_dense(f):
    return next(f"layer/{i}" for i in range(len(f["layer"])) if f[f"layer/{i}/type"][0] == b"dense")


NETX_CASES = {
    "weight shape": (
        lambda f: _replace(f, "layer/1/weight", f["layer/1/weight"][()][:, :, :2]),
        ["layer 1 (conv)", "weights (4, 1, 2, 3)", "is not the output shape"],
    ),
    "layers not JSON": (
        lambda f: f.attrs.__setitem__("layers", "not json {"),
        ["attribute layers is not JSON", "expected a JSON list"],
    ),
    "format_version not a number": (
        lambda f: f.attrs.__setitem__("format_version", "abc"),
        ["netx format version is 'abc', expected a number (1)"],
    ),
    "newer format_version": (
        lambda f: f.attrs.__setitem__("format_version", 2),
        ["written by a newer tna-deploy (netx format version 2; this one reads 1)", "upgrade"],
    ),
    "weight removed": (
        lambda f: f.__delitem__("layer/1/weight"),
        ["layer 1 (conv): its 'weight' field is missing"],
    ),
    "stride removed": (
        lambda f: f.__delitem__("layer/1/stride"),
        ["layer 1 (conv): its 'stride' field is missing"],
    ),
    "neuron removed": (
        lambda f: f.__delitem__(_first_dense(f) + "/neuron"),
        ["(dense): its 'neuron' group is missing", "re-export"],
    ),
    "timesteps 0": (
        lambda f: f.attrs.__setitem__("timesteps", 0),
        ["attribute timesteps is 0, expected an integer >= 1"],
    ),
    "input_bits 0": (
        lambda f: f.attrs.__setitem__("input_bits", 0),
        ["attribute input_bits is 0, expected an integer in 1..16"],
    ),
    "dataset removed": (lambda f: f.attrs.__delitem__("dataset"), ["attribute dataset is missing"]),
    "n_classes": (
        lambda f: f.attrs.__setitem__("n_classes", 7),
        ["attribute n_classes is 7, the read-out layer has 10"],
    ),
    "weight is NaN": (
        lambda f: _replace(f, "layer/1/weight", np.full((4, 1, 3, 3), np.nan)),
        ["layer 1 (conv): weight is float64, expected finite numbers"],
    ),
}


@pytest.mark.parametrize("case", sorted(NETX_CASES))
def test_damaged_netx_is_one_line_in_simulate(exported, fmnist_dir, tmp_path, case):
    edit, words = NETX_CASES[case]
    p = _damaged_net(exported, tmp_path, edit)
    line = one_line_error(
        run("simulate", p, "--samples", "2", "--data-dir", fmnist_dir, "--out", tmp_path / "sim"),
        "bad.net",
        *words,
    )
    assert "--timesteps" not in line and "--input-bits" not in line  # simulate has no such flags
    assert not (tmp_path / "sim" / "results.json").exists()


@pytest.mark.parametrize(
    "case", ["weight removed", "stride removed", "neuron removed", "format_version not a number"]
)
def test_damaged_netx_is_one_line_in_report(exported, simulated, tmp_path, case):
    edit, words = NETX_CASES[case]
    p = _damaged_net(exported, tmp_path, edit)
    one_line_error(
        run("report", simulated, "--netx", p, "--out", tmp_path / "r"), "bad.net", *words
    )


def test_read_meta_names_the_attribute(exported, tmp_path):
    from tna_deploy.export.netx import read_meta

    p = _damaged_net(exported, tmp_path, NETX_CASES["format_version not a number"][0])
    with pytest.raises(
        CheckpointError, match="bad.net: tna-deploy metadata: netx format version is 'abc'"
    ):
        read_meta(str(p))
    p = _damaged_net(
        exported, tmp_path, lambda f: f.attrs.__setitem__("in_shape", "[1, 28"), "b2.net"
    )
    with pytest.raises(
        CheckpointError, match="b2.net: tna-deploy metadata: attribute in_shape is not JSON"
    ):
        read_meta(str(p))


# ---- ONNX exports ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_path(exported):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tna_deploy.export.onnx_writer import write_onnx
    from tna_deploy.ir import read_netx

    path = exported[2] / "malformed-source.onnx"
    if not path.exists():
        write_onnx(read_netx(exported[1]), str(path))
    return path, onnx


@pytest.mark.parametrize(
    "key, edit, words",
    [
        (
            "tna_deploy.format_version",
            lambda v: "2",
            [
                "written by a newer tna-deploy (tna-deploy ONNX format version 2",
                "upgrade tna-deploy",
            ],
        ),
        (
            "tna_deploy.ir",
            lambda v: json.dumps(
                dict(json.loads(v), meta=dict(json.loads(v)["meta"], timesteps=0))
            ),
            ["attribute timesteps is 0, expected an integer >= 1"],
        ),
        (
            "tna_deploy.ir",
            lambda v: json.dumps(
                dict(
                    json.loads(v),
                    layers=[
                        dict(e, info=dict(e["info"], weight_bits="x")) if e["info"] else e
                        for e in json.loads(v)["layers"]
                    ],
                )
            ),
            ["layer info"],
        ),
    ],
)
def test_damaged_onnx_is_one_line(onnx_path, fmnist_dir, tmp_path, key, edit, words):
    path, onnx = onnx_path
    model = onnx.load(str(path))
    for p in model.metadata_props:
        if p.key == key:
            p.value = edit(p.value)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(model.SerializeToString())
    one_line_error(
        run("simulate", bad, "--samples", "2", "--data-dir", fmnist_dir, "--out", tmp_path / "s"),
        "bad.onnx",
        *words,
    )


# ---- simulate results, as the report reads them ---------------------------------------------------
@pytest.fixture(scope="module")
def simulated(exported):
    from tna_deploy.simulate.run import simulate

    run_dir, net, d = exported
    out = d / "malformed-sim"
    if not (out / "results.json").exists():
        simulate(net, 4, str(out), run_dir=run_dir)
    return out


@pytest.fixture(scope="module")
def other_net(fmnist_dir, exported):
    """A valid netx file of another network with as many layers (a conv and the pool swapped)."""
    from tna_deploy.export import to_netx
    from tna_deploy.train.loop import train

    d = exported[2] / "other"
    if not (d / "other.net").exists():
        train(
            tiny_config(
                fmnist_dir, arch="4C3-AP2-8C3-16FC", timesteps=4, seed=1, epochs=1, quantize_epoch=0
            ),
            str(d / "run"),
        )
        to_netx(str(d / "run"), str(d / "other.net"))
    return d / "other.net"


def _sim_copy(simulated, tmp_path, results=None, counts=None):
    d = tmp_path / "sim"
    shutil.copytree(simulated, d)
    if results is not None:
        r = json.load(open(d / "results.json"))
        (d / "results.json").write_text(json.dumps(results(r)))
    if counts is not None:
        with np.load(d / "counts.npz") as z:
            arrays = {k: z[k] for k in z.files}
        counts(arrays)
        np.savez_compressed(d / "counts.npz", **arrays)
    reseal(d)
    return d


def _pop(d, key):
    d = dict(d)
    d.pop(key)
    return d


@pytest.mark.parametrize(
    "results, counts, words",
    [
        (
            lambda r: [r],
            None,
            ["results.json: a JSON list, expected the object tna-deploy simulate writes"],
        ),
        (lambda r: _pop(r, "chip"), None, ["results.json: field chip is missing"]),
        (
            lambda r: _pop(r, "emulator"),
            None,
            ["results.json: field emulator is missing", "the backend's summary"],
        ),
        (
            lambda r: dict(r, format_version=SIM_VERSION + 1),
            None,
            [
                f"written by a newer tna-deploy (simulation format version {SIM_VERSION + 1}; this one reads {SIM_VERSION}); "
                f"upgrade tna-deploy"
            ],
        ),
        (lambda r: _pop(r, "timesteps"), None, ["field timesteps is missing"]),
        (
            lambda r: dict(r, layers=3),
            None,
            ["field layers is 3, expected the list of layer names"],
        ),
        (
            lambda r: dict(r, parity=dict(r["parity"], samples="four")),
            None,
            ["results.json: parity: field samples is 'four'"],
        ),
        (
            lambda r: dict(r, file="/nonexistent/x.net"),
            None,
            ["field file names /nonexistent/x.net, which does not exist"],
        ),
        (
            None,
            lambda a: a.pop("emulator_counts"),
            ["counts.npz: array emulator_counts is missing"],
        ),
        (
            None,
            lambda a: a.__setitem__("emulator_synops", a["emulator_synops"][:, :1]),
            [
                "counts.npz: array emulator_synops is int64 of shape (4, 1, 4), expected integers of shape (4, 5, 4)"
            ],
        ),
        (
            None,
            lambda a: a.__setitem__("torch_counts", a["torch_counts"][:2]),
            ["array torch_counts", "of shape (2, 4, 4)"],
        ),
        (
            None,
            lambda a: a.__setitem__("emulator_synops", a["emulator_synops"].astype(np.float64)),
            ["array emulator_synops is float64"],
        ),
        (
            None,
            lambda a: a.__setitem__("emulator_counts", a["emulator_counts"] * 10**6),
            [
                "array emulator_counts has",
                "spikes in one step of layer 0:conv, which has 3136 neurons",
            ],
        ),
    ],
)
def test_damaged_simulation_is_one_line_in_report(simulated, tmp_path, results, counts, words):
    d = _sim_copy(simulated, tmp_path, results, counts)
    one_line_error(run("report", d, "--out", tmp_path / "r"), *words)
    assert not (tmp_path / "r" / "report.json").exists()


def test_truncated_counts_are_one_line(simulated, tmp_path):
    d = _sim_copy(simulated, tmp_path)
    raw = (d / "counts.npz").read_bytes()
    (d / "counts.npz").write_bytes(raw[: len(raw) // 2])
    reseal(d)
    one_line_error(
        run("report", d, "--out", tmp_path / "r"), "counts.npz: unreadable simulation counts"
    )


def test_results_naming_another_network_are_refused(simulated, other_net, tmp_path):
    d = _sim_copy(simulated, tmp_path, results=lambda r: dict(r, file=str(other_net)))
    one_line_error(
        run("report", d, "--out", tmp_path / "r"),
        "other.net does not match the simulation",
        "its layers are ['0:conv', '1:pool', '2:conv'",
    )
    one_line_error(
        run("report", simulated, "--netx", other_net, "--out", tmp_path / "r"), "does not match"
    )


# ---- hardware profiles ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "true"])
@pytest.mark.parametrize("key", ["value", "value_max"])
def test_profile_numbers_must_be_finite_numbers(simulated, tmp_path, key, value):
    from tna_deploy.hardware.profile import PACKAGED, load_profile

    text = (PACKAGED / "loihi2.toml").read_text()
    anchor = "[cores_per_chip]\n"
    assert anchor in text
    text = (
        text.replace("value = 128\n", f"value = {value}\n", 1)
        if key == "value"
        else text.replace(anchor, anchor + f"value_max = {value}\n", 1)
    )
    p = tmp_path / "mine.toml"
    p.write_text(text)
    with pytest.raises(
        ConfigError, match=f"mine.toml: field cores_per_chip: {key} must be a finite"
    ):
        load_profile(str(p))
    one_line_error(
        run("report", simulated, "--hardware", p, "--out", tmp_path / "r"),
        "mine.toml",
        "cores_per_chip",
    )


def test_profile_that_is_not_utf8_is_one_line(tmp_path):
    from tna_deploy.hardware.profile import load_profile

    p = tmp_path / "latin.toml"
    p.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="latin.toml: not valid TOML"):
        load_profile(str(p))


# ---- architectures --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "arch, words",
    [
        ("AP2-32C3", ["--arch token 1 'AP2': an architecture cannot start with a pool"]),
        ("32C2-64FC", ["--arch token 1 '32C2': kernel 2 is even", "odd kernel"]),
        ("8C3-16C4-AP2", ["--arch token 2 '16C4': kernel 4 is even"]),
    ],
)
def test_impossible_architectures_are_refused_at_config_time(fmnist_dir, tmp_path, arch, words):
    with pytest.raises(ConfigError, match=words[0].replace("(", r"\(")):
        TrainConfig(arch=arch)
    one_line_error(
        run(
            "train",
            "--data-dir",
            fmnist_dir,
            "--arch",
            arch,
            "--epochs",
            "1",
            "--out",
            tmp_path / "r",
        ),
        *words,
    )
    assert not (tmp_path / "r" / "config.json").exists()


# ---- the interrupt message names what the command did ---------------------------------------------
@pytest.mark.parametrize("command", ["export", "simulate", "report"])
def test_ctrl_c_outside_train_does_not_talk_about_resume(
    exported, simulated, tmp_path, monkeypatch, command
):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    if command == "export":
        import tna_deploy.export.formats as target

        monkeypatch.setattr(target, "load_source", interrupt)
        args = ["export", exported[0], "--out", tmp_path / "x.net"]
    elif command == "simulate":
        import tna_deploy.simulate.run as target

        monkeypatch.setattr(target, "simulate_with", interrupt)
        args = ["simulate", exported[1], "--samples", "2", "--out", tmp_path / "s"]
    else:
        import tna_deploy.report as target

        monkeypatch.setattr(target, "build_report", interrupt)
        args = ["report", simulated, "--out", tmp_path / "r"]
    res = run(*args)
    assert res.exit_code == 130
    lines = res.stderr.strip().splitlines()
    assert lines == [f"interrupted: {command} stopped before it finished; nothing was written"], (
        res.stderr
    )
    assert "--resume" not in res.stderr and "epoch" not in res.stderr
