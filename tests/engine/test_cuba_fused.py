"""The fused C++ build of the CUBA kernel computes exactly what the portable torch kernel computes."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from tna_deploy.engine import cuba_ext
from tna_deploy.engine.cuba import LOIHI, SLAYER, U_MAX, cuba_run, cuba_run_torch

pytestmark = pytest.mark.skipif(
    cuba_ext.get() is None, reason="no C++ compiler: the portable kernel runs alone"
)

CASES = [  # i_decay, v_decay, threshold (state units), bias
    (4096, 1024, 4096.0, 0),
    (4096, 0, 64 * 61440.0, 0),
    (0, 0, 4096.0 * 7, 0),
    (1234, 77, 5000.0, 0),
    (2048, 3000, None, 0),
    (4096, 1024, 4096.0, 64 * 5),
]


def _a(shape, seed, high):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-high // 3, high, shape, generator=g).to(torch.float64)


@pytest.mark.parametrize("flavor", [SLAYER, LOIHI], ids=["slayer", "loihi"])
@pytest.mark.parametrize("case", CASES)
def test_fused_equals_portable(flavor, case):
    i_decay, v_decay, threshold, bias = case
    if bias and flavor is SLAYER:
        pytest.skip("SLAYER's CUBA has no bias")
    for high in (64 * 40, U_MAX // 3):  # ordinary inputs, and inputs that wrap u and clip v
        a = _a((7, 3, 5, 6), i_decay + v_decay + high, high)
        kw = dict(flavor=flavor, bias=bias, record=True, keep_v_pre=True)
        fused = cuba_run(a, i_decay, v_decay, threshold, **kw)
        ref = cuba_run_torch(a, i_decay, v_decay, threshold, **kw)
        for name in ("spikes", "v_pre", "u", "v"):
            assert torch.equal(getattr(fused, name), getattr(ref, name)), name
        if flavor is LOIHI and high > 64 * 40 and i_decay == 0:
            assert ref.u.abs().max() >= U_MAX // 2  # the wrap really was exercised


def test_fused_slayer_training_outputs_equal_portable():
    """The fast engine's call: float32 synaptic sums scaled by 4096, float32 voltage / 4096, float spikes."""
    g = torch.Generator().manual_seed(0)
    z = torch.randint(-50, 200, (5, 4, 300), generator=g).float() / 64
    kw = dict(keep_v_pre=True, v_pre_dtype=torch.float32, v_pre_divisor=4096.0, in_scale=4096.0)
    fused = cuba_run(z, 4096, 1024, 4096.0, SLAYER, spike_dtype=torch.float32, **kw)
    ref = cuba_run_torch(z, 4096, 1024, 4096.0, SLAYER, **kw)
    assert fused.spikes.dtype == torch.float32
    assert torch.equal(fused.spikes, ref.spikes.float()) and torch.equal(fused.v_pre, ref.v_pre)


def test_spikes_written_over_the_input_equal_fresh_ones():
    """The emulator's call: LOIHI flavor, a_in scaled by 64 inside, float spikes written over a itself."""
    g = torch.Generator().manual_seed(1)
    a = torch.randint(-30, 120, (6, 2, 7, 7, 3), generator=g).float()
    ref = cuba_run_torch(a.clone(), 4096, 1024, 64 * 60.0, LOIHI, in_scale=64.0, record=True)
    buf = a.clone()
    got = cuba_run(
        buf,
        4096,
        1024,
        64 * 60.0,
        LOIHI,
        in_scale=64.0,
        record=True,
        spike_dtype=torch.float32,
        spikes_out=buf,
    )
    assert got.spikes.data_ptr() == buf.data_ptr()
    assert (
        torch.equal(got.spikes, ref.spikes.float())
        and torch.equal(got.v, ref.v)
        and torch.equal(got.u, ref.u)
    )
    assert ref.spikes.any()


@pytest.mark.slow
def test_two_checkouts_share_one_build_and_only_the_first_is_announced(tmp_path, monkeypatch):
    """Two copies of the package (two checkouts, or two venvs) with the same source: one build in a folder
    named by what changes the binary, announced once, never rebuilt when the other copy runs; the lock
    file a killed torch build leaves in that folder (torch would wait on it forever) does not stop it."""
    import shutil
    import subprocess
    import sys
    import time

    import tna_deploy

    ext = tmp_path / "ext"
    copies = []
    for name in ("checkout-a", "checkout-b"):
        root = tmp_path / name
        shutil.copytree(os.path.dirname(tna_deploy.__file__), root / "tna_deploy",
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        copies.append(root)
    probe = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from tna_deploy.engine import cuba_ext; "
        "said = []; cuba_ext.announce = said.append; t = time.time(); m = cuba_ext.get(); "
        "print(m is not None, len(said), round(time.time() - t, 1), cuba_ext.__file__, "
        "'torch.utils.cpp_extension' in sys.modules)"
    )
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(ext))
    from tna_deploy.engine import cbuild, cuba_ext

    _, folder = cuba_ext.build_dir(cuba_ext._joined(cuba_ext._sources()))
    os.makedirs(folder)
    open(os.path.join(folder, cbuild.TORCH_BATON), "w").close()  # a build killed mid-way
    runs = []

    def use(root):
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-c", probe, str(root)], capture_output=True, text=True,
                             env=dict(os.environ, TORCH_EXTENSIONS_DIR=str(ext)), timeout=600)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        built, announced, seconds, where, tools = out.stdout.split()
        assert built == "True" and where.startswith(str(root)), out.stdout
        runs.append((int(announced), float(seconds), time.monotonic() - t0, tools == "True"))

    for root in (copies[0], copies[1], copies[0]):
        use(root)
    assert [r[0] for r in runs] == [1, 0, 0], runs  # announced by the first use only
    # the build's record lets later uses load the library without torch's build tools (and ninja)
    assert [r[3] for r in runs] == [True, False, False], runs
    record = os.path.join(folder, cuba_ext.BUILT)
    with open(record, "w") as f:
        f.write(
            '{"library": "%s.so", "stamp": {"size": 1, "mtime_ns": 1}}' % os.path.basename(folder)
        )
    use(copies[1])  # a record that does not match the library: torch's own check, no rebuild
    assert runs[-1][0] == 0 and runs[-1][3], runs
    use(copies[0])  # ... which wrote the record anew
    assert runs[-1][0] == 0 and not runs[-1][3], runs
    # the other checkout, and back: no rebuild (a build takes a minute or more; loading the cached one
    # took up to 10 s on 2 shared, busy cores)
    assert runs[1][1] < 30 and runs[2][1] < 30, runs
    assert len([d for d in os.listdir(ext) if d.startswith("tna_cuba_")]) == 1


def test_a_build_loads_directly_only_while_its_record_matches(tmp_path):
    """``built.json`` names the library a finished build loaded, with its size and time: only a record
    that still matches the library lets a process skip torch's build check."""
    if cuba_ext.get() is None:
        pytest.skip("no C++ build of the fused kernels")
    name, folder = cuba_ext.build_dir(cuba_ext._joined(cuba_ext._sources()))
    module = cuba_ext._load_built(
        name, folder
    )  # this process built or checked it: its record is there
    assert module is not None and hasattr(module, "cuba_forward")
    copy = tmp_path / "build"
    copy.mkdir()
    shutil.copy2(os.path.join(folder, f"{name}.so"), copy / f"{name}.so")
    assert cuba_ext._load_built(name, str(copy)) is None  # no record
    for text in ("{not json", "[1, 2]", '{"library": "other.so", "stamp": null}'):
        (copy / cuba_ext.BUILT).write_text(text)
        assert cuba_ext._load_built(name, str(copy)) is None, text
    cuba_ext._record_built(name, str(copy))
    assert cuba_ext._load_built(name, str(copy)) is not None
    with open(copy / f"{name}.so", "ab") as f:  # the library changed since its build: the full path
        f.write(b"\0")
    assert cuba_ext._load_built(name, str(copy)) is None
