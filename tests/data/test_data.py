import os
import pickle

import numpy as np
import pytest
import torch
from helpers import make_images, write_idx

from tna_deploy.data.datasets import load_split
from tna_deploy.data.encode import augment, encode, input_scale
from tna_deploy.errors import DataError
from tna_deploy.train.config import TrainConfig


def test_fashion_mnist_idx(fmnist_dir):
    cfg = TrainConfig(data_dir=fmnist_dir)
    s = load_split(cfg, "train")
    x, y = make_images(96, 1)
    assert s.x.shape == (96, 1, 28, 28) and s.x.dtype == torch.uint8
    assert torch.equal(s.x[:, 0], torch.from_numpy(x[..., 0])) and torch.equal(
        s.y, torch.from_numpy(y.astype(np.int64))
    )
    assert len(load_split(TrainConfig(data_dir=fmnist_dir, limit_test=5), "test")) == 5


def test_val_split_holds_out_the_last_training_samples(fmnist_dir):
    full = load_split(TrainConfig(data_dir=fmnist_dir, limit_train=80), "train")
    cfg = TrainConfig(data_dir=fmnist_dir, limit_train=80, val_split=30)
    train, val = load_split(cfg, "train"), load_split(cfg, "val")
    assert (len(train), len(val)) == (50, 30)
    assert torch.equal(train.x, full.x[:50]) and torch.equal(val.x, full.x[50:])
    assert torch.equal(torch.cat([train.y, val.y]), full.y)
    assert len(load_split(cfg, "test")) == 32  # the test split is untouched
    with pytest.raises(DataError, match="--val-split N"):
        load_split(TrainConfig(data_dir=fmnist_dir), "val")
    with pytest.raises(DataError, match="--val-split 96 leaves no training samples"):
        load_split(TrainConfig(data_dir=fmnist_dir, val_split=96), "train")


def test_truncated_idx_is_named(tmp_path):
    x, y = make_images(8, 0)
    write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), x[..., 0])
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), y)
    raw = (tmp_path / "train-images-idx3-ubyte.gz").read_bytes()
    import gzip

    data = gzip.decompress(raw)[:-100]
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated"):
        load_split(TrainConfig(data_dir=str(tmp_path)), "train")


def test_missing_fashion_mnist_says_where_it_looked(tmp_path, monkeypatch):
    pytest.importorskip("torchvision", reason="torchvision comes with the train extra")
    monkeypatch.setenv("TNA_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, *a, **k):
            raise OSError("network unreachable")

    monkeypatch.setattr(tvd, "FashionMNIST", Offline)
    with pytest.raises(DataError, match="not found.*looked in.*dataset-fashion-mnist"):
        load_split(TrainConfig(data_dir=str(tmp_path)), "train")


def _write_cifar(root, name):
    """The python-pickle layout of the official CIFAR archives, with a few images."""
    rng = np.random.default_rng(0)
    if name == "cifar10":
        folder, label_key = os.path.join(root, "cifar-10-batches-py"), "labels"
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        meta = ("batches.meta", {"label_names": ["c%d" % i for i in range(10)]}, "label_names")
        n_cls = 10
    else:
        folder, label_key = os.path.join(root, "cifar-100-python"), "fine_labels"
        files = ["train", "test"]
        meta = ("meta", {"fine_label_names": ["c%d" % i for i in range(100)]}, "fine_label_names")
        n_cls = 100
    os.makedirs(folder)
    for f in files:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, n_cls, 4)]
        with open(os.path.join(folder, f), "wb") as fh:
            pickle.dump({"data": data, label_key: labels}, fh, protocol=2)
    with open(os.path.join(folder, meta[0]), "wb") as fh:
        pickle.dump(meta[1], fh)
    return data, labels  # those of the last file (the test split)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pickled_batches(tmp_path, name):
    data, labels = _write_cifar(str(tmp_path), name)
    test = load_split(TrainConfig(dataset=name, data_dir=str(tmp_path)), "test")
    assert test.x.shape == (4, 3, 32, 32) and test.n_classes == (10 if name == "cifar10" else 100)
    assert torch.equal(test.x[0], torch.from_numpy(data[0].reshape(3, 32, 32)))
    assert test.y.tolist() == labels
    assert len(load_split(TrainConfig(dataset=name, data_dir=str(tmp_path)), "train")) == (
        20 if name == "cifar10" else 4
    )


def test_cifar_missing_is_one_error(tmp_path, monkeypatch):
    pytest.importorskip("torchvision", reason="torchvision comes with the train extra")
    import torchvision.datasets.utils as u

    monkeypatch.setattr(
        u.urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))
    )
    with pytest.raises(DataError, match="cifar10 not found"):
        load_split(TrainConfig(dataset="cifar10", data_dir=str(tmp_path)), "test")


def test_dvs_events_binned_into_t_frames():
    from tna_deploy.data.dvs import events_to_frames

    dtype = np.dtype([("t", np.uint64), ("x", np.uint16), ("y", np.uint16), ("p", bool)])
    ev = np.array(
        [(0, 0, 0, True), (10, 127, 127, False), (55, 64, 0, True), (99, 64, 0, True)], dtype=dtype
    )
    frames = events_to_frames(ev, (128, 128, 2), timesteps=2, size=64)
    assert frames.shape == (2, 64, 64, 2) and frames.dtype == np.uint8
    assert frames.sum() == 4
    assert frames[1, 0, 0, 0] == 1 and frames[0, 63, 63, 0] == 1  # first bin: t = 0, 10 (ON, OFF)
    assert frames[1, 0, 32, 1] == 2  # second bin: t = 55, 99 at x = 64 -> 32


def test_cifar10_dvs_aedat4_recordings(tmp_path):
    """The extracted CIFAR10DVS/<class>/*.aedat4 layout, read by tonic, binned into T frames."""
    pytest.importorskip("tonic", reason="tonic comes with the train extra")
    pytest.importorskip("aedat", reason="aedat comes with the train extra")
    from aedat4 import write_aedat4

    dtype = np.dtype([("t", np.int64), ("x", np.uint16), ("y", np.uint16), ("p", bool)])
    rng = np.random.default_rng(0)
    counts = {}
    for cls in ("airplane", "cat"):
        os.makedirs(tmp_path / "CIFAR10DVS" / cls)
        for i in range(3):
            n = 50 + 10 * i
            ev = np.zeros(n, dtype=dtype)
            ev["t"] = np.sort(rng.integers(0, 100_000, n))
            ev["x"], ev["y"], ev["p"] = (
                rng.integers(0, 128, n),
                rng.integers(0, 128, n),
                rng.integers(0, 2, n),
            )
            write_aedat4(str(tmp_path / "CIFAR10DVS" / cls / f"{cls}_{i}.aedat4"), ev)
            counts[(cls, i)] = n
    cfg = TrainConfig(dataset="cifar10-dvs", data_dir=str(tmp_path), timesteps=4)
    test, train = load_split(cfg, "test"), load_split(cfg, "train")
    assert len(test) == 2 and len(train) == 4 and test.event_data
    assert test.x.shape == (2, 2, 48, 48, 4) and test.y.tolist() == [0, 3]  # airplane, cat
    assert (
        int(test.x[0].sum()) == counts[("airplane", 0)]
        and int(train.x[0].sum()) == counts[("airplane", 1)]
    )
    e = encode(test.x, 4, 4, True)
    assert e.shape == test.x.shape and float(e.max()) <= 15
    (tmp_path / "CIFAR10DVS" / "cat" / "cat_0.aedat4").write_bytes(b"#!AER-DAT4.0\r\nbroken")
    with pytest.raises(DataError, match="cat_0.aedat4: not a readable AEDAT4 recording"):
        load_split(cfg, "test")


def test_encode_graded_input():
    x = torch.tensor([[[[0, 1, 128, 255]]]], dtype=torch.uint8)
    e = encode(x, 3, 8, False)
    assert e.shape == (1, 1, 1, 4, 3) and torch.equal(e[..., 2], x.float())
    assert encode(x, 3, 4, False)[0, 0, 0, :, 0].tolist() == [0, 0, 8, 15]
    assert (
        input_scale(TrainConfig(), False) == 15.0
        and input_scale(TrainConfig(input_bits=8), False) == 255.0
    )


def test_augmentation_is_reproducible_and_shape_preserving():
    pytest.importorskip("torchvision", reason="torchvision comes with the train extra")
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    a = augment(x, torch.Generator().manual_seed(3), False)
    b = augment(x, torch.Generator().manual_seed(3), False)
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    ev = torch.randint(0, 3, (2, 2, 16, 16, 4), dtype=torch.uint8)
    d = augment(ev, torch.Generator().manual_seed(0), True)
    assert d.shape == ev.shape and torch.equal(
        d, augment(ev, torch.Generator().manual_seed(0), True)
    )
