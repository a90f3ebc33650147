"""``simulate --stream`` (one stream per sample in Lava's own time frame, netx's reset_interval /
reset_offset or no reset), ``--input-drive bias`` (frames as the input neuron's bias), and ``--input``
running every sample it holds: the emulator equals Lava run the same way, and the flags refuse what
does not fit together in one line."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import conv_dense_net

from tna_deploy.cli import main
from tna_deploy.engine.emulator import Emulator, Stream
from tna_deploy.ir import Neuron, write_netx
from tna_deploy.simulate.lava.run import run_lava

LEAKY = Neuron(threshold=40, current_decay=1024, voltage_decay=512)


def _file(tmp_path, input_neuron=None, bias=True):
    net = conv_dense_net(LEAKY, input_neuron=input_neuron)
    if bias:  # a bias on the conv makes the state move without input: resets then matter
        import dataclasses

        layers = list(net.layers)
        layers[1] = dataclasses.replace(layers[1], bias=np.array([30, -20, 50]))
        net = dataclasses.replace(net, layers=tuple(layers))
    path = str(tmp_path / "net.net")
    write_netx(net, path)
    return path, net


def _spikes(k, steps, seed=0):
    return (np.random.default_rng(seed).random((k, 2, 4, 4, steps)) < 0.4).astype(np.int32)


def test_stream_without_reset_carries_state(tmp_path):
    """One stream of 2T steps is not two windows of T: the state carries over."""
    _, net = _file(tmp_path)
    x = _spikes(1, 12)
    whole = Emulator(net, Stream(None)).run(x)
    halves = Emulator(net, Stream(None)).run(np.concatenate([x[..., :6], x[..., 6:]], axis=0))
    assert not np.array_equal(whole.spikes[0][0][..., 6:], halves.spikes[0][1])


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize(
    "interval, offset, input_neuron",
    [(None, 0, None), (5, 0, None), (5, 3, None), (4, 1, LEAKY), (None, 0, LEAKY)],
)
def test_stream_equals_lava(tmp_path, interval, offset, input_neuron):
    path, net = _file(tmp_path, input_neuron)
    x = _spikes(2, 13, seed=interval or 1)
    if input_neuron is not None:
        x = x * 37  # graded values into the input neuron's a_in
    record = ("current", "voltage")
    mine = Emulator(net, Stream(interval, offset)).run(x, record=("spikes",) + record)
    lava, _ = run_lava(
        path,
        net,
        x,
        record=record,
        timing=dict(stream=True, reset_interval=interval, reset_offset=offset),
    )
    for a, b in zip(mine.spikes[:-1], lava.spikes):
        assert np.array_equal(a, b)
    for a, b in zip(mine.current + mine.voltage, lava.current + lava.voltage):
        assert np.array_equal(a, b)
    assert np.array_equal(mine.logits, lava.logits)
    assert sum(int(s.sum()) for s in mine.spikes) > 10


@pytest.mark.lava
@pytest.mark.slow
def test_bias_drive_equals_lava_in_windows(tmp_path):
    """Frames as the input neuron's bias, samples back to back in windows of T (netx's reset)."""
    path, net = _file(tmp_path, input_neuron=LEAKY)
    frames = np.random.default_rng(3).integers(-20, 60, (3, 2, 4, 4)).astype(np.int32)
    mine = Emulator(net, None, drive="bias").run(frames, record=("spikes", "voltage"), steps=7)
    lava, _ = run_lava(path, net, frames, record=("voltage",), timing=dict(drive="bias", steps=7))
    for a, b in zip(mine.spikes[:-1], lava.spikes):
        assert np.array_equal(a, b)
    for a, b in zip(mine.voltage, lava.voltage):
        assert np.array_equal(a, b)
    assert sum(int(s.sum()) for s in mine.spikes) > 10


def test_input_runs_every_sample(tmp_path):
    path, _ = _file(tmp_path)
    np.save(tmp_path / "x.npy", _spikes(27, 5))
    out = tmp_path / "sim"
    r = CliRunner().invoke(
        main, ["simulate", path, "--input", str(tmp_path / "x.npy"), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    import json

    assert json.loads((out / "results.json").read_text())["samples"] == 27


def test_stream_cli_equals_library(tmp_path):
    path, net = _file(tmp_path)
    x = _spikes(2, 9)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "sim"
    args = ["simulate", path, "--input", str(tmp_path / "x.npy"), "--stream"]
    r = CliRunner().invoke(
        main, args + ["--reset-interval", "4", "--record", "spikes", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    want = Emulator(net, Stream(4, 0)).run(x)
    with np.load(out / "spikes.npz") as z:
        assert np.array_equal(z["input"], x)
        for i, a in enumerate(want.spikes[:-1]):
            assert np.array_equal(z[f"emulator_L{i}"], a)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--reset-interval", "4"], "add --stream"),
        (["--stream", "--reset-offset", "2"], "needs --reset-interval"),
        (["--stream", "--reset-interval", "0"], "at least 1"),
        (["--input-drive", "bias"], "give both"),
        (["--steps", "5"], "give both"),
        (["--stream", "--backend", "onnx"], "ONNX model runs per-sample windows"),
    ],
)
def test_timing_flags_refused_in_one_line(tmp_path, args, words):
    path, _ = _file(tmp_path)
    np.save(tmp_path / "x.npy", _spikes(2, 5))
    r = CliRunner().invoke(
        main,
        ["simulate", path, "--input", str(tmp_path / "x.npy"), *args, "--out", str(tmp_path / "o")],
    )
    assert r.exit_code != 0
    assert words in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_bias_drive_needs_an_input_neuron(tmp_path):
    path, _ = _file(tmp_path)
    np.save(tmp_path / "f.npy", np.ones((2, 4, 4), np.int32))
    r = CliRunner().invoke(
        main,
        [
            "simulate",
            path,
            "--input",
            str(tmp_path / "f.npy"),
            "--input-drive",
            "bias",
            "--steps",
            "4",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code != 0 and "no neuron to take a bias" in r.output
