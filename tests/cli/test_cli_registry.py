"""The train flags come from TrainConfig's field metadata, and every choice list from its registry:
a field or a registry entry added in one place shows up in the CLI without touching cli.py."""

import dataclasses
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from tna_deploy import cli
from tna_deploy.data import registry as data_registry
from tna_deploy.export.formats import FORMATS
from tna_deploy.quant import modes
from tna_deploy.simulate.choices import BACKENDS
from tna_deploy.train import methods
from tna_deploy.train.config import DATASETS, METHODS, WEIGHTS, TrainConfig

COMMAND_ONLY = [
    "preset",
    "out",
    "resume",
    "engine",
    "device",
]  # train's own options, not config fields
# what `train` offered before the options were built from the dataclass, in this order
EXPOSED = [
    "dataset",
    "data_dir",
    "arch",
    "width",
    "timesteps",
    "method",
    "twins",
    "alpha",
    "teacher",
    "weights",
    "delta",
    "quantize_epoch",
    "epochs",
    "batch_size",
    "lr",
    "lr_gamma",
    "dropout",
    "seed",
    "limit_train",
    "limit_test",
    "val_split",
    "augment",
    "threshold",
    "current_decay",
    "voltage_decay",
    "input_bits",
]


def help_text(command, args=("--help",)) -> str:
    res = CliRunner().invoke(command, list(args), terminal_width=400)
    assert res.exit_code == 0, res.output
    return res.output


def entry(text: str, flag: str) -> str:
    """The help of one option: its line and any continuation lines, joined."""
    lines = text.split("Options:", 1)[1].splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith(flag + " "))
    rest = lines[i + 1 :]
    end = next((j for j, ln in enumerate(rest) if ln.strip().startswith("-")), len(rest))
    return " ".join(" ".join([lines[i], *rest[:end]]).split())


def flag_fields():
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli")]


def options(command) -> dict:
    return {p.name: p for p in command.params}


def shown(f) -> str:
    if f.metadata.get("default_text") is not None or f.default is None:
        return f.metadata.get("default_text")
    return ("on" if f.default else "off") if isinstance(f.default, bool) else str(f.default)


def test_every_field_has_help_and_the_flags_are_the_same_as_before():
    assert all(f.metadata.get("help") for f in dataclasses.fields(TrainConfig))
    assert [f.name for f in flag_fields()] == EXPOSED
    assert [p.name for p in cli.train.params] == EXPOSED + COMMAND_ONLY
    hidden = {f.name for f in dataclasses.fields(TrainConfig)} - set(EXPOSED)
    assert hidden == {"tau_grad", "scale_grad", "weight_scale", "dvs_size"}
    text = help_text(cli.main, ["train", "--help"])
    assert not any(f"--{name.replace('_', '-')} " in text for name in hidden)


def test_help_shows_each_fields_default_read_from_the_dataclass():
    text = help_text(cli.main, ["train", "--help"])
    params = options(cli.train)
    for f in flag_fields():
        p = params[f.name]
        assert (
            p.default is None
        )  # train tells given flags by their source; with_preset fills the rest
        flag = (
            "--augment / --no-augment" if f.name == "augment" else "--" + f.name.replace("_", "-")
        )
        line = entry(text, flag)
        if shown(f) is None:
            assert "[" not in p.help, (f.name, p.help)
        else:
            assert p.help.endswith(f"[{shown(f)}].") and f"[{shown(f)}]." in line, (f.name, line)
        if f.default is not None and not isinstance(f.default, bool):
            assert str(f.default) in line, (f.name, line)  # CIFARNet's string too
    assert "Graded-spike bits of the input [4]." in text  # the help once said 8
    assert (
        "[60% of --epochs]" in text
        and "[paper's per dataset]" in text
        and "[0.2 static, 0.5 DVS]" in text
    )


def test_flag_types_follow_the_annotations():
    params = options(cli.train)
    assert params["timesteps"].type is click.INT and params["lr"].type is click.FLOAT
    assert params["arch"].type is click.STRING and params["limit_train"].type is click.INT
    assert params["augment"].is_flag and params["augment"].secondary_opts == ["--no-augment"]
    for name in ("data_dir", "teacher"):
        assert isinstance(params[name].type, click.Path) and not params[name].type.file_okay


def test_choices_are_the_registries():
    params = options(cli.train)
    assert list(params["dataset"].type.choices) == list(data_registry.DATASETS) == list(DATASETS)
    assert list(params["method"].type.choices) == list(methods.METHODS) == list(METHODS)
    assert (
        list(params["weights"].type.choices)
        == [k for k, m in modes.MODES.items() if m.middle]
        == list(WEIGHTS)
    )
    assert params["method"].help == " | ".join(methods.METHODS) + f" [{TrainConfig.method}]."
    assert list(options(cli.simulate)["dataset"].type.choices) == list(data_registry.DATASETS)
    assert list(options(cli.export)["fmt"].type.choices) == list(FORMATS)
    sim_help = " ".join(help_text(cli.main, ["simulate", "--help"]).split())
    assert all(name in sim_help for name in BACKENDS)


def test_a_new_registry_entry_shows_up_without_touching_the_cli(monkeypatch, tmp_path):
    import numpy as np

    from tna_deploy.data import fashion_mnist

    monkeypatch.setitem(
        data_registry.DATASETS,
        "mnist-like",
        data_registry.Dataset(3, False, "fashion_mnist:_test_load", "a test dataset"),
    )
    monkeypatch.setattr(
        fashion_mnist,
        "_test_load",
        lambda cfg, split, limit: (np.zeros((4, 1, 28, 28), np.uint8), np.array([0, 1, 2, 1])),
        raising=False,
    )
    monkeypatch.setitem(
        methods.METHODS, "kd-2", methods.Method("a test method", needs_teacher=True)
    )
    monkeypatch.setitem(modes.MODES, "quaternary", modes.Mode("a test mode"))

    command = click.command()(cli.config_options(lambda **kw: None))  # the options, built again
    params = options(command)
    assert (
        "mnist-like" in params["dataset"].type.choices and "kd-2" in params["method"].type.choices
    )
    assert "quaternary" in params["weights"].type.choices and "kd-2 [tna]" in params["method"].help
    text = help_text(command)
    assert "mnist-like" in text and "quaternary" in text

    # the config's checks and the data loader read the same registries
    cfg = TrainConfig(dataset="mnist-like", weights="quaternary", method="tna")
    assert "mnist-like" in DATASETS and "kd-2" in METHODS and "quaternary" in WEIGHTS
    with pytest.raises(Exception, match="--method kd-2 needs --teacher"):
        TrainConfig(method="kd-2")
    from tna_deploy.data.datasets import load_split

    split = load_split(cfg, "train")
    assert split.n_classes == 3 and not split.event_data and len(split) == 4


def test_config_and_registries_import_without_torch():
    code = (
        "import sys, tna_deploy.train.config, tna_deploy.data.registry, tna_deploy.train.methods, "
        "tna_deploy.quant.modes; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
