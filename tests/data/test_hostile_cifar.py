"""A CIFAR folder cannot run code: batches are read with an allow-list unpickler (issue 10, #2)."""

import collections
import os
import pickle
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from tna_deploy.cli import main
from tna_deploy.data.cifar import read_batch
from tna_deploy.errors import DataError

TINY = [
    "--arch",
    "4C3-AP2-8FC",
    "--timesteps",
    "2",
    "--epochs",
    "1",
    "--batch-size",
    "4",
    "--weights",
    "fp",
]


class Payload:
    """Unpickling this would run ``os.system`` (and create ``marker``)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class ExecPayload(Payload):
    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _legit(n=4, seed=0, key="labels", bytes_keys=False):
    rng = np.random.default_rng(seed)
    d = {
        "batch_label": "training batch 1 of 5",
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        key: [int(v) for v in rng.integers(0, 10, n)],
        "filenames": [b"img_%d.png" % i for i in range(n)],
    }
    return {k.encode(): v for k, v in d.items()} if bytes_keys else d


def _write_cifar10(root, payload_in=(), payload_cls=Payload, marker=None, protocol=2):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        obj = _legit(seed=i)
        if name in payload_in:
            obj = (
                dict(obj, labels=payload_cls(marker))
                if name == "test_batch"
                else payload_cls(marker)
            )
        (folder / name).write_bytes(pickle.dumps(obj, protocol=protocol))
    return folder


def _one_line_error(res, *words):
    assert res.exit_code != 0, res.stdout
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr + res.stdout and not isinstance(
        res.exception, pickle.UnpicklingError
    )
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("planted", ["data_batch_1", "test_batch"])
@pytest.mark.parametrize("payload_cls", [Payload, ExecPayload])
def test_planted_payload_does_not_run(tmp_path, planted, payload_cls):
    marker = tmp_path / "pwned"
    _write_cifar10(tmp_path / "data", (planted,), payload_cls, marker)
    res = CliRunner().invoke(
        main,
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path / "data"),
            *TINY,
            "--out",
            str(tmp_path / "run"),
        ],
    )
    _one_line_error(res, planted, "refusing", "re-download")
    assert not marker.exists()
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("bytes_keys", [False, True])
def test_legit_batches_still_load(tmp_path, protocol, bytes_keys):
    p = tmp_path / "data_batch_1"
    want = _legit(n=3, bytes_keys=bytes_keys)
    p.write_bytes(pickle.dumps(want, protocol=protocol))
    data, labels = read_batch(str(p), "labels")
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    assert np.array_equal(data, want[k("data")]) and labels.tolist() == want[k("labels")]


def _py2_batch(data: np.ndarray, labels: list) -> bytes:
    """The byte layout of the official batches (Python 2 cPickle, protocol 2: str keys, str pixel data)."""

    def s(b):
        return b"U" + bytes([len(b)]) + b

    arr = (
        b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85"
        + s(b"b")
        + b"\x87R"
        + b"(K\x01M"
        + struct.pack("<H", data.shape[0])
        + b"M\x00\x0c\x86"
        + b"cnumpy\ndtype\n"
        + s(b"u1")
        + b"K\x00K\x01\x87R(K\x03"
        + s(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89T"
        + struct.pack("<I", data.nbytes)
        + data.tobytes()
        + b"tb"
    )
    lab = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return b"\x80\x02}(" + s(b"data") + arr + s(b"labels") + lab + b"u."


def test_python2_original_layout_loads(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, (2, 3072), dtype=np.uint8)
    p = tmp_path / "test_batch"
    p.write_bytes(_py2_batch(data, [3, 7]))
    ref = pickle.loads(
        p.read_bytes(), encoding="latin1"
    )  # the layout is right: plain pickle agrees
    assert np.array_equal(ref["data"], data)
    got, labels = read_batch(str(p), "labels")
    assert np.array_equal(got, data) and labels.tolist() == [3, 7]


@pytest.mark.slayer
def test_cifar10_cli_reads_legit_folder(tmp_path):
    _write_cifar10(tmp_path / "data")
    res = CliRunner().invoke(
        main,
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path / "data"),
            *TINY,
            "--limit-train",
            "8",
            "--limit-test",
            "4",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    "blob, words",
    [
        (pickle.dumps([1, 2]), "not a dict"),
        (pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}), "(N, 3072)"),
        (
            pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}),
            "one label per image",
        ),
        (pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0]})[:-20], "cannot read"),
        (
            pickle.dumps(
                {
                    "data": np.zeros((1, 3072), np.uint8),
                    "labels": [0],
                    "x": collections.OrderedDict(),
                }
            ),
            "collections.OrderedDict",
        ),
    ],
    ids=["list", "shape", "labels", "truncated", "class"],
)
def test_malformed_batch_is_named(tmp_path, blob, words):
    p = tmp_path / "data_batch_1"
    p.write_bytes(blob)
    with pytest.raises(
        DataError, match=r"data_batch_1.*" + words.replace("(", r"\(").replace(")", r"\)")
    ):
        read_batch(str(p), "labels")


@pytest.mark.parametrize("module", ["numpy", "numpy.core.multiarray"])
def test_a_direct_ndarray_call_is_refused_before_it_allocates(tmp_path, module):
    """240 bytes that ask numpy.ndarray for a gigabyte (issue 22, #3): refused, nothing allocated."""
    import resource
    import time

    name = "ndarray" if module == "numpy" else "_reconstruct"
    args = (  # ndarray((2**30,), 'u1')  /  _reconstruct(ndarray, (2**30,), b'b') with its shape lie
        b"J\x00\x00\x00\x40\x85X\x02\x00\x00\x00u1\x86"
        if name == "ndarray"
        else b"cnumpy\nndarray\nJ\x00\x00\x00\x40\x85C\x01b\x87"
    )
    blob = b"\x80\x02}X\x04\x00\x00\x00datac" + f"{module}\n{name}\n".encode() + args + b"Rs."
    p = tmp_path / "data_batch_1"
    p.write_bytes(blob)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"data_batch_1: not a CIFAR batch.*refusing"):
        read_batch(str(p), "labels")
    assert time.monotonic() - t0 < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB
