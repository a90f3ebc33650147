"""Fashion-MNIST from the original IDX files: --data-dir, Debian's dataset-fashion-mnist, or torchvision."""

from __future__ import annotations

import logging
import os

import numpy as np

from ..errors import DataError
from .idx import find_idx, read_idx

log = logging.getLogger(__name__)
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def candidate_dirs(data_dir: str | None) -> list[str]:
    dirs = []
    if data_dir:
        dirs += [
            data_dir,
            os.path.join(data_dir, "fashion-mnist"),
            os.path.join(data_dir, "FashionMNIST", "raw"),
        ]
    dirs.append(os.environ.get("TNA_FASHION_MNIST_DIR", DEBIAN_DIR))
    return dirs


def _download(data_dir: str | None) -> str:
    root = data_dir or os.path.join(os.path.expanduser("~"), ".cache", "tna-deploy", "data")
    try:
        from torchvision.datasets import FashionMNIST
    except ImportError:
        raise DataError(
            f"Fashion-MNIST not found (looked in {', '.join(candidate_dirs(data_dir))}); downloading it "
            f"needs torchvision (pip install 'tna-deploy[train]'), or install the Debian package "
            f"dataset-fashion-mnist, or put train-images-idx3-ubyte.gz etc. in --data-dir"
        ) from None
    try:
        FashionMNIST(root=root, train=True, download=True)
        FashionMNIST(root=root, train=False, download=True)
    except Exception as e:  # torchvision raises URLError, RuntimeError, OSError...
        raise DataError(
            f"Fashion-MNIST not found (looked in {', '.join(candidate_dirs(data_dir))}) and the download "
            f"failed ({type(e).__name__}); install the Debian package dataset-fashion-mnist, or put "
            f"train-images-idx3-ubyte.gz etc. in --data-dir"
        ) from None
    return os.path.join(root, "FashionMNIST", "raw")


def load_fashion_mnist(split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 28, 28) uint8 and labels (N,) int64 of ``split`` ('train' or 'test')."""
    img_stem, lbl_stem = FILES[split]
    dirs = candidate_dirs(data_dir)
    img, lbl = find_idx(dirs, img_stem), find_idx(dirs, lbl_stem)
    if img is None or lbl is None:
        raw = _download(data_dir)
        img, lbl = find_idx([raw], img_stem), find_idx([raw], lbl_stem)
        if img is None or lbl is None:
            raise DataError(
                f"Fashion-MNIST download left no {img_stem} in {raw}; remove that folder and retry"
            )
    log.info("Fashion-MNIST %s from %s", split, os.path.dirname(img))
    x, y = read_idx(img), read_idx(lbl)
    for p, a in ((img, x), (lbl, y)):
        if a.dtype != np.uint8:
            raise DataError(
                f"{p}: holds IDX type {a.dtype}, expected unsigned bytes (type 0x08) as Fashion-MNIST "
                f"ships them; re-download the dataset"
            )
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{img} and {lbl} do not match: {x.shape} images vs {y.shape} labels")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{lbl}: labels must lie in 0..9")
    return x[:, None].astype(np.uint8), y.astype(np.int64)


def load(cfg, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The registry's reader (data/registry.py)."""
    return load_fashion_mnist(split, cfg.data_dir)
