"""Small files that ask for huge memory are refused before anything is allocated (issue 22, item 3): a
conv whose padding reaches past its kernel, a network one sample of which does not fit the machine (the
memory guard covers simulate and the ONNX export as it covers train), and a file of hundreds of layers
that would make Lava fork a process per layer."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tna_deploy.errors import ConfigError


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tna_deploy", *map(str, args)], capture_output=True, text=True
    )


def _one_line(res, *words):
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


def _padded(tmp_path, pad: int) -> str:
    """A 2-conv netx file (no tna-deploy metadata, as any netx file) whose first conv is padded by ``pad``,
    every shape consistent: a few kilobytes that describe layers of tens of millions of neurons."""
    from tna_deploy.ir import DeployedNet, Layer, Neuron, write_netx

    n = Neuron(threshold=1, current_decay=4096, voltage_decay=0)
    w1, w2 = np.ones((4, 1, 3, 3), int), np.ones((4, 4, 3, 3), int)
    layers = (
        Layer("input", 0, (1, 28, 28), (1, 28, 28)),
        Layer("conv", 1, (1, 28, 28), (4, 28, 28), n, w1, padding=(1, 1)),
        Layer("conv", 2, (4, 28, 28), (4, 28, 28), n, w2, padding=(1, 1)),
    )
    out = str(tmp_path / f"pad{pad}.net")
    write_netx(DeployedNet(layers, (1, 28, 28), 0, 5), out)
    side = 28 + 2 * pad - 2
    with h5py.File(out, "r+") as h:  # what a crafted file holds: consistent, and huge
        g1, g2 = h["layer"]["1"], h["layer"]["2"]
        for g in (g1, g2):
            del g["shape"]
            g["shape"] = np.array((4, side, side))
        del g1["padding"]
        g1["padding"] = np.array([pad, pad])
    return out


def test_padding_past_the_kernel_is_refused_before_anything_is_built(tmp_path):
    bomb = _padded(tmp_path, 1500)  # 2 x 36.6 M neurons: about 9 GB a sample over T = 5
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    for args in (
        ("simulate", bomb, "--samples", "2", "--out", tmp_path / "s"),
        ("export", bomb, "--format", "onnx", "--out", tmp_path / "x.onnx"),
    ):
        res = _cli(*args)
        _one_line(res, "pad1500.net", "layer 1 (conv)", "exceeds the kernel's reach")
    assert time.monotonic() - t0 < 120
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss - before < 2_000_000  # KiB
    assert not os.path.exists(tmp_path / "s" / "results.json") and not os.path.exists(
        tmp_path / "x.onnx"
    )


def test_the_memory_guard_covers_simulate_and_the_onnx_export(exported, tmp_path, monkeypatch):
    import tna_deploy.memory as memory
    from tna_deploy.export.onnx_writer import write_onnx
    from tna_deploy.ir import read_netx
    from tna_deploy.simulate.run import simulate

    _, net, _ = exported
    monkeypatch.setattr(memory, "available_bytes", lambda: 50_000)  # a machine with 50 kB free
    with pytest.raises(
        ConfigError, match=r"one sample in 1 source\(s\) \(layer .* holds .* neurons"
    ):
        simulate(net, 2, str(tmp_path / "s"))
    with pytest.raises(ConfigError, match="checking the ONNX export on 4 samples .* GB free"):
        write_onnx(read_netx(net), str(tmp_path / "x.onnx"))
    assert not os.path.exists(tmp_path / "x.onnx")
    monkeypatch.setattr(memory, "available_bytes", lambda: memory.UNKNOWN)
    simulate(net, 2, str(tmp_path / "s"))  # with the memory it needs, it runs


@pytest.mark.lava
def test_hundreds_of_layers_are_not_forked_into_lava(tmp_path):
    from tna_deploy.ir import DeployedNet, Layer, Neuron, write_netx
    from tna_deploy.simulate.run import simulate

    n = Neuron(threshold=1, current_decay=4096, voltage_decay=0)
    layers = [Layer("input", 0, (4,), (4,))] + [
        Layer("dense", i, (4,), (4,), n, np.eye(4, dtype=int) * 64) for i in range(1, 301)
    ]
    path = str(tmp_path / "deep.net")
    write_netx(DeployedNet(tuple(layers), (4,), 0, 2), path)
    x = np.random.default_rng(0).integers(0, 2, (3, 4, 2))
    np.save(tmp_path / "x.npy", x)
    t0 = time.monotonic()
    res = _cli(
        "simulate",
        path,
        "--input",
        tmp_path / "x.npy",
        "--backend",
        "lava",
        "--out",
        tmp_path / "o",
    )
    _one_line(res, "300 layers", "one process per layer", "--backend emulator")
    assert time.monotonic() - t0 < 60
    simulate(
        path, "all", str(tmp_path / "e"), input_path=str(tmp_path / "x.npy")
    )  # the emulator runs it
