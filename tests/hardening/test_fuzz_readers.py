"""Every file reader, fuzzed with hypothesis on mutated real files (issue 10, #6).

Each test starts from a real file the tool wrote (a checkpoint, a netx and an ONNX export, a simulate
folder, a hardware profile, IDX, CIFAR and AEDAT4 files) and mutates it: bytes set, flipped, inserted,
deleted or cut off (half of them in the first 512 bytes, where headers live), or, for structured files,
fields deleted or replaced by values of the wrong type, shape or range. Whatever comes out, the reader
must either return a valid result or raise its one-line TnaError naming the file; any other exception,
a reader running longer than ``LIMIT_S`` or the process growing by more than ``MEMORY`` fails the test.

A normal run tries a few dozen examples per reader, reproducibly (profile ``tna-default`` in
conftest.py); ``pytest -m fuzz --fuzz tests/hardening/test_fuzz_readers.py`` tries thousands, at random.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import math
import os
import pickle
import resource
import shutil
import signal

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from helpers import make_images  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tna_deploy.errors import TnaError  # noqa: E402

pytestmark = pytest.mark.fuzz

LIMIT_S = 30  # one reader call on a small file
MEMORY = 512 << 20  # how far one reader call may raise the process's resident memory


class Hang(BaseException):  # a BaseException: no reader's ``except Exception`` may swallow it
    pass


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) << 10 for ln in f if ln.startswith(key + ":"))


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM), so that it measures the next call alone."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def bounded():
    """At most ``LIMIT_S`` seconds, and a resident-memory peak at most ``MEMORY`` above where it started."""

    def alarm(*_):
        raise Hang(f"a reader ran for more than {LIMIT_S} s")

    rss, fresh = _status("VmRSS"), _reset_peak()
    start = rss if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    peak = _status("VmHWM") if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak - start < MEMORY, (
        f"reading a mutated file took the process from {start >> 20} to {peak >> 20} MiB"
    )


def outcome(call, path: str, errors=(TnaError,)):
    """``call()``'s result, or None when it raised one of ``errors`` as one line naming ``path``."""
    with bounded():
        try:
            return call()
        except errors as e:
            msg = str(e)
            assert msg.strip() and "\n" not in msg, repr(msg)
            assert os.path.basename(path) in msg, f"the error does not name {path}: {msg}"
            return None


# ---- mutations -------------------------------------------------------------------------------------
@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        if not b:
            break
        op = draw(st.sampled_from(["set", "flip", "cut", "insert", "delete", "repeat"]))
        end = min(len(b), 512) if draw(st.booleans()) else len(b)
        pos = draw(st.integers(0, end - 1))
        if op == "set":
            b[pos] = draw(st.integers(0, 255))
        elif op == "flip":
            b[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del b[pos:]
        elif op == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del b[pos : pos + draw(st.integers(1, 64))]
        else:
            b[pos:pos] = b[pos : pos + draw(st.integers(1, 64))]
    return bytes(b)


WRONG = [
    None,
    True,
    False,
    0,
    -1,
    1,
    3,
    2**31,
    -(2**63),
    2**64,
    0.5,
    1e308,
    -1e-300,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "x",
    "nan",
    "1",
    [],
    {},
    [0],
    [1, 2, 3],
    [[1]],
    ["a"],
    {"a": 1},
]


def _paths(obj, prefix=()):
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _at(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def mutated_tree(draw, obj, extra=()):
    """``obj`` (dicts and lists of values) with 1-3 fields deleted, replaced by a wrong value or by another
    field's value; ``extra`` values are tried too (tensors for checkpoints)."""
    obj = copy.deepcopy(obj)
    values = WRONG + list(extra)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(obj))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(obj, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "copy"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            v = draw(st.sampled_from(values))
            parent[key] = v(parent[key]) if callable(v) else copy.deepcopy(v)
        else:
            parent[key] = copy.deepcopy(_at(obj, draw(st.sampled_from(paths))))
    return obj


# ---- checkpoints and run configs -------------------------------------------------------------------
def _tensor_variants():
    import torch

    return [
        lambda t: torch.zeros(3),
        lambda t: torch.zeros(2, 2, 2, 2, 2),
        lambda t: t.flatten() if hasattr(t, "flatten") else t,
        lambda t: (
            torch.full_like(t, math.nan)
            if hasattr(t, "is_floating_point") and t.is_floating_point()
            else t
        ),
        lambda t: t.to(torch.int64) if hasattr(t, "to") else t,
        lambda t: t[..., :1] if hasattr(t, "dim") and t.dim() else t,
        lambda t: torch.zeros(5056, dtype=torch.uint8),
        lambda t: torch.tensor(1.0),
    ]


def _resume(path: str, meta: dict):
    """What ``train --resume`` does with a checkpoint before its first step; ``meta`` stands for the data."""
    import torch

    from tna_deploy.train.checkpoint import check_resume_meta, load_checkpoint, restore_training
    from tna_deploy.train.config import TrainConfig
    from tna_deploy.train.runs import ModelMeta, make_networks

    ckpt = load_checkpoint(path, resume=True)
    cfg = TrainConfig.from_dict(ckpt["config"])
    check_resume_meta(ckpt, path, meta)
    base, twins = make_networks(cfg, ModelMeta.from_dict(meta))
    opt = torch.optim.Adam(
        [p for n in [base] + twins for p in n.parameters() if p.requires_grad], lr=cfg.lr
    )
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_gamma)
    with torch.random.fork_rng():
        restore_training(ckpt, path, base, twins, opt, sched, meta)
    return base


class Real(tuple):
    """A fixture's real files and contents, shown by name only in hypothesis' reports."""

    def __repr__(self):
        return f"<real {os.path.basename(str(self[0]))}>"


@pytest.fixture(scope="module")
def checkpoint(exported, tmp_path_factory):
    import torch

    run, _, _ = exported
    path = os.path.join(run, "checkpoint.pt")
    return Real(
        (
            path,
            open(path, "rb").read(),
            torch.load(path, weights_only=True),
            tmp_path_factory.mktemp("ckpt"),
        )
    )


@given(data=st.data())
def test_checkpoint_bytes(checkpoint, data):
    from tna_deploy.train.runs import load_run

    src, raw, _, tmp = checkpoint
    run = tmp / "bytes"
    run.mkdir(exist_ok=True)
    (run / "checkpoint.pt").write_bytes(data.draw(mutated_bytes(raw)))
    outcome(lambda: load_run(str(run)), str(run / "checkpoint.pt"))


@given(data=st.data())
def test_checkpoint_fields(checkpoint, data):
    import torch

    from tna_deploy.train.runs import load_run

    _, _, ckpt, tmp = checkpoint
    run = tmp / "fields"
    run.mkdir(exist_ok=True)
    path = str(run / "checkpoint.pt")
    torch.save(data.draw(mutated_tree(ckpt, _tensor_variants())), path)
    outcome(lambda: load_run(str(run)), path)
    outcome(lambda: _resume(path, ckpt["meta"]), path)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@given(data=st.data())
def test_run_config_json(exported, scratch, data):
    from tna_deploy.train.checkpoint import load_run_config

    run, _, _ = exported
    saved = json.load(open(os.path.join(run, "config.json")))
    d = scratch
    (d / "config.json").write_text(json.dumps(data.draw(mutated_tree(saved))))
    outcome(lambda: load_run_config(str(d)), str(d / "config.json"))


# ---- netx files (the IR reader) and ONNX exports ---------------------------------------------------
def _h5_items(path: str):
    import h5py

    objects, attrs = [], []
    with h5py.File(path, "r") as f:
        f.visit(objects.append)
        attrs = sorted(f.attrs)
    return sorted(objects), attrs


ARRAYS = [
    np.zeros(0),
    np.zeros((2, 3)),
    np.full(3, np.nan),
    np.array(1e30),
    np.array(-5),
    np.array([2**40]),
    np.array([b"CUBA"]),
    np.array([b"dense"]),
    np.array([b"pool"]),
    np.array([1, 1, 1]),
    np.array(4096),
    np.ones((16, 1568), dtype=np.int64),
    np.array([[1.5]]),
]


def _mutate_h5(path: str, data) -> None:
    import h5py

    objects, attrs = _h5_items(path)
    with h5py.File(path, "r+") as f:
        for _ in range(data.draw(st.integers(1, 3), label="edits")):
            if attrs and data.draw(st.booleans(), label="attribute"):
                key = data.draw(st.sampled_from(attrs))
                v = data.draw(
                    st.sampled_from(
                        WRONG[:-5] + ["[1, 2]", "{", "[]", '[{"name": 1}]', "tna-deploy-netx"]
                    )
                )
                if (
                    v is None
                    or isinstance(v, (list, dict))
                    or (isinstance(v, int) and abs(v) >= 2**63)
                ):
                    f.attrs.pop(key, None)
                else:
                    f.attrs[key] = v
                continue
            live = [o for o in objects if o in f]
            if not live:
                break
            name = data.draw(st.sampled_from(live))
            if data.draw(st.booleans(), label="delete") or isinstance(f[name], h5py.Group):
                del f[name]
            else:
                del f[name]
                f[name] = data.draw(st.sampled_from(ARRAYS))


@given(data=st.data())
def test_netx_bytes(exported, data):
    from tna_deploy.ir import read_netx

    _, net, d = exported
    p = d / "fuzz-bytes.net"
    p.write_bytes(data.draw(mutated_bytes(open(net, "rb").read())))
    outcome(lambda: read_netx(str(p)), str(p))


@given(data=st.data())
def test_netx_fields(exported, data):
    from tna_deploy.export.netx import read_meta
    from tna_deploy.hardware.counts import static_counts
    from tna_deploy.ir import read_netx

    _, net, d = exported
    p = d / "fuzz-fields.net"
    shutil.copy(net, p)
    _mutate_h5(str(p), data)
    got = outcome(lambda: read_netx(str(p)), str(p))
    if got is not None:  # a valid network: what the report computes from it works
        for layer in got.compute_layers:
            if layer.kind != "input":
                static_counts(layer)
    outcome(lambda: read_meta(str(p)), str(p))


@pytest.fixture(scope="module")
def onnx_export(exported):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tna_deploy.export.onnx_writer import write_onnx
    from tna_deploy.ir import read_netx

    _, net, d = exported
    path = d / "fuzz-source.onnx"
    if not path.exists():
        write_onnx(read_netx(net), str(path))
    return path


@given(data=st.data())
def test_onnx_bytes(onnx_export, data):
    from tna_deploy.ir.onnx_model import read_onnx

    p = onnx_export.parent / "fuzz-bytes.onnx"
    p.write_bytes(data.draw(mutated_bytes(onnx_export.read_bytes())))
    outcome(lambda: read_onnx(str(p)), str(p))


@given(data=st.data())
def test_onnx_fields(onnx_export, data):
    import onnx

    from tna_deploy.ir.onnx_model import read_onnx

    model = onnx.load(str(onnx_export))
    props = {p.key: p for p in model.metadata_props}
    key = data.draw(st.sampled_from(sorted(props)))
    try:
        value = json.loads(props[key].value)
    except ValueError:
        value = props[key].value
    value = (
        data.draw(mutated_tree(value))
        if isinstance(value, (dict, list))
        else data.draw(st.sampled_from(WRONG))
    )
    props[key].value = json.dumps(value) if not isinstance(value, str) else value
    p = onnx_export.parent / "fuzz-fields.onnx"
    p.write_bytes(model.SerializeToString())
    outcome(lambda: read_onnx(str(p)), str(p))


# ---- simulate results, through the report's loader --------------------------------------------------
@pytest.fixture(scope="module")
def sim_dir(exported):
    from tna_deploy.simulate.run import simulate

    run, net, d = exported
    out = d / "fuzz-sim"
    if not (out / "results.json").exists():
        simulate(net, 3, str(out), run_dir=run)
    return out


def _report(path: str):
    from tna_deploy.report import build_report
    from tna_deploy.report.render import summary_lines, to_markdown

    r = build_report(path)
    summary_lines(r)
    to_markdown(r)
    return r


@given(data=st.data())
def test_results_json(sim_dir, data):
    d = sim_dir.parent / "fuzz-results"
    shutil.copytree(sim_dir, d, dirs_exist_ok=True)
    results = json.load(open(sim_dir / "results.json"))
    if data.draw(st.booleans(), label="as bytes"):
        (d / "results.json").write_bytes(
            data.draw(mutated_bytes((sim_dir / "results.json").read_bytes()))
        )
    else:
        (d / "results.json").write_text(json.dumps(data.draw(mutated_tree(results))))
    outcome(lambda: _report(str(d)), str(d))


@given(data=st.data())
def test_counts_npz(sim_dir, data):
    d = sim_dir.parent / "fuzz-counts"
    shutil.copytree(sim_dir, d, dirs_exist_ok=True)
    if data.draw(st.booleans(), label="as bytes"):
        (d / "counts.npz").write_bytes(
            data.draw(mutated_bytes((sim_dir / "counts.npz").read_bytes()))
        )
    else:
        with np.load(sim_dir / "counts.npz") as z:
            arrays = {k: z[k] for k in z.files}
        for _ in range(data.draw(st.integers(1, 3))):
            key = data.draw(st.sampled_from(sorted(arrays)))
            a = arrays.pop(key)
            variants = [
                None,
                lambda a: a[:1],
                lambda a: a.reshape(-1),
                lambda a: a.astype(np.float64),
                lambda a: -a - 1,
                lambda a: a * 10**6,
                lambda a: np.zeros((0,) + a.shape[1:], a.dtype),
                lambda a: a[..., :1],
                lambda a: np.array(7),
                lambda a: a.astype(np.uint8),
                lambda a: np.full(a.shape, 2**62, dtype=np.int64),
                lambda a: np.array(["x"] * len(a)),
            ]
            v = data.draw(st.sampled_from(variants))
            if (
                v is not None and a.dtype.kind in "iuf" and a.ndim
            ):  # (the test's own arrays can be 0-d)
                arrays[data.draw(st.sampled_from([key, key + "_x", "emulator_logits"]))] = v(a)
        np.savez_compressed(d / "counts.npz", **arrays)
    outcome(lambda: _report(str(d)), str(d))


# ---- hardware profiles -----------------------------------------------------------------------------
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return (
            "{"
            + ", ".join(
                f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items() if x is not None
            )
            + "}"
        )
    return '"null"'


def _toml(doc: dict) -> str:
    """A profile-shaped document (scalars, then tables of scalars) as TOML."""
    top = [
        f"{json.dumps(str(k))} = {_toml_value(v)}"
        for k, v in doc.items()
        if not isinstance(v, dict) and v is not None
    ]
    tables = [
        f"[{json.dumps(str(k))}]\n"
        + "\n".join(
            f"{json.dumps(str(a))} = {_toml_value(b)}" for a, b in v.items() if b is not None
        )
        for k, v in doc.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


@given(data=st.data())
def test_hardware_toml(scratch, data):
    import tomli

    from tna_deploy.hardware.profile import PACKAGED, load_profile

    src = PACKAGED / "loihi2.toml"
    p = scratch / "mine.toml"
    if data.draw(st.booleans(), label="as bytes"):
        p.write_bytes(data.draw(mutated_bytes(src.read_bytes())))
    else:
        p.write_text(_toml(data.draw(mutated_tree(tomli.loads(src.read_text())))))
    prof = outcome(lambda: load_profile(str(p)), str(p))
    if prof is not None:
        from tna_deploy.hardware.feasibility import energy

        for f in prof.figures.values():
            assert f.value is None or math.isfinite(f.value)
        energy(1000.0, 100.0, 10.0, prof)


# ---- datasets: IDX, CIFAR batches, AEDAT4 recordings -----------------------------------------------
@pytest.fixture(scope="module")
def idx_files(fmnist_dir):
    img = os.path.join(fmnist_dir, "t10k-images-idx3-ubyte.gz")
    return Real((open(img, "rb").read(), gzip.decompress(open(img, "rb").read())))


@given(data=st.data())
def test_idx(idx_files, scratch, data):
    from tna_deploy.data.idx import read_idx

    gz, raw = idx_files
    zipped = data.draw(st.booleans(), label="gzipped")
    p = scratch / ("x-idx3-ubyte.gz" if zipped else "x-idx3-ubyte")
    p.write_bytes(data.draw(mutated_bytes(gz if zipped else raw)))
    outcome(lambda: read_idx(str(p)), str(p))


def _cifar_batch(protocol: int) -> bytes:
    x, y = make_images(4, 3, size=32, channels=3)
    entry = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [int(v) for v in y],
        b"data": x.transpose(0, 3, 1, 2).reshape(4, -1),
        b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png"],
    }
    return pickle.dumps(entry, protocol=protocol)


@given(data=st.data())
def test_cifar_batch(scratch, data):
    from tna_deploy.data.cifar import read_batch

    p = scratch / "data_batch_1"
    p.write_bytes(
        data.draw(
            mutated_bytes(_cifar_batch(data.draw(st.sampled_from([2, 4, 5]), label="protocol")))
        )
    )
    got = outcome(lambda: read_batch(str(p), "labels"), str(p))
    if got is not None:
        x, y = got
        assert x.ndim == 2 and x.shape[1] == 3072 and len(y) == len(x) and y.dtype == np.int64


@pytest.fixture(scope="module")
def aedat_file(tmp_path_factory):
    from aedat4 import write_aedat4

    dtype = np.dtype([("t", np.int64), ("x", np.uint16), ("y", np.uint16), ("p", bool)])
    rng = np.random.default_rng(0)
    ev = np.zeros(60, dtype=dtype)
    ev["t"] = np.sort(rng.integers(0, 100_000, 60))
    ev["x"], ev["y"], ev["p"] = (
        rng.integers(0, 128, 60),
        rng.integers(0, 128, 60),
        rng.integers(0, 2, 60),
    )
    p = tmp_path_factory.mktemp("dvs") / "real.aedat4"
    write_aedat4(str(p), ev)
    return p


@settings(
    max_examples=max(10, settings().max_examples // 3)
)  # a decoding process each: slower examples
@given(data=st.data())
def test_aedat4_recording(aedat_file, data):
    from tna_deploy.data.dvs import decode_recordings

    p = aedat_file.parent / "airplane_0.aedat4"
    p.write_bytes(data.draw(mutated_bytes(aedat_file.read_bytes())))
    got = outcome(lambda: decode_recordings([str(p)], (128, 128, 2), 4, 48), str(p))
    if got is not None:
        assert got.shape == (1, 2, 48, 48, 4) and got.dtype == np.uint8


def test_a_decoder_crash_is_one_line(aedat_file):
    """The decoder aborts the process on this damaged header (a panic while unwinding): one line, no crash."""
    from tna_deploy.data.dvs import decode_recordings
    from tna_deploy.errors import DataError

    p = aedat_file.parent / "cat_0.aedat4"
    raw = bytearray(aedat_file.read_bytes())
    start = raw.index(b"<dv")
    raw[start + 1 : start + 3] = b"\xd6\xd6"  # the description is no longer UTF-8
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="cat_0.aedat4: not a readable AEDAT4 recording"):
        decode_recordings([str(p)], (128, 128, 2), 4, 48)


def test_a_packet_claiming_gigabytes_is_one_line(aedat_file):
    """A packet header saying 4 GiB: the decoder's allocation fails inside its memory limit, in its process."""
    import struct

    from tna_deploy.data.dvs import decode_recordings
    from tna_deploy.errors import DataError

    raw = bytearray(aedat_file.read_bytes())
    packet = 18 + struct.unpack("<I", raw[14:18])[0]  # magic, header length, header, then packets
    raw[packet + 4 : packet + 8] = struct.pack("<I", 0xFFFFFFF0)
    p = aedat_file.parent / "dog_0.aedat4"
    p.write_bytes(bytes(raw))
    with bounded(), pytest.raises(DataError, match="dog_0.aedat4: not a readable AEDAT4 recording"):
        decode_recordings([str(p)], (128, 128, 2), 4, 48)


def test_the_fuzzing_starts_from_valid_files(
    checkpoint, exported, onnx_export, sim_dir, idx_files, aedat_file
):
    """Each real file reads cleanly, so every error above comes from a mutation."""
    from tna_deploy.data.cifar import read_batch
    from tna_deploy.data.dvs import decode_recordings
    from tna_deploy.hardware.profile import load_profile
    from tna_deploy.ir import read_netx
    from tna_deploy.ir.onnx_model import read_onnx
    from tna_deploy.train.runs import load_run

    path, _, _, tmp = checkpoint
    load_run(os.path.dirname(path))
    _resume(path, checkpoint[2]["meta"])
    read_netx(exported[1])
    read_onnx(str(onnx_export))
    _report(str(sim_dir))
    load_profile("loihi2")
    (tmp / "b").write_bytes(_cifar_batch(2))
    assert read_batch(str(tmp / "b"), "labels")[0].shape == (4, 3072)
    assert decode_recordings([str(aedat_file)], (128, 128, 2), 4, 48).sum() == 60
    assert idx_files[1][:4] == b"\x00\x00\x08\x03"


# ---- the ONNX graph check, the manifests and the report ---------------------------------------------
@given(data=st.data())
def test_onnx_graph(onnx_export, data):
    """Mutated ONNX bytes through what ``simulate x.onnx --backend onnx`` does before onnxruntime runs."""
    from tna_deploy.ir.onnx_model import read_onnx
    from tna_deploy.simulate.onnx_backend import check_graph

    p = onnx_export.parent / "fuzz-graph.onnx"
    p.write_bytes(data.draw(mutated_bytes(onnx_export.read_bytes())))

    def check():
        net, raw = read_onnx(str(p))
        check_graph(str(p), net, raw)

    outcome(check, str(p))


@given(data=st.data())
def test_manifest_json(sim_dir, data):
    from tna_deploy.atomic import verify_set

    d = sim_dir.parent / "fuzz-manifest"
    shutil.copytree(sim_dir, d, dirs_exist_ok=True)
    original = (sim_dir / "manifest.json").read_bytes()
    if data.draw(st.booleans(), label="as bytes"):
        (d / "manifest.json").write_bytes(data.draw(mutated_bytes(original)))
    else:
        (d / "manifest.json").write_text(json.dumps(data.draw(mutated_tree(json.loads(original)))))
    outcome(lambda: verify_set(str(d), "simulate", ("results.json", "counts.npz")), str(d))


@pytest.fixture(scope="module")
def report_json(sim_dir):
    from tna_deploy.report import build_report

    path = sim_dir.parent / "fuzz-report.json"
    if not path.exists():
        path.write_text(build_report(str(sim_dir)).to_json())
    return path


@given(data=st.data())
def test_report_json(report_json, data):
    from tna_deploy.report import read

    p = report_json.parent / "fuzz-report-mutated.json"
    if data.draw(st.booleans(), label="as bytes"):
        p.write_bytes(data.draw(mutated_bytes(report_json.read_bytes())))
    else:
        p.write_text(json.dumps(data.draw(mutated_tree(json.loads(report_json.read_text())))))
    outcome(lambda: read(str(p)), str(p))
