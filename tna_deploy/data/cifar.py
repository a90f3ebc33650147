"""CIFAR-10 / CIFAR-100 through torchvision's readers (the python-pickle batches of the official archive)."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError


def _classes(name: str):
    from torchvision import datasets

    base = getattr(datasets, name)

    class Present(base):
        """torchvision's reader with its md5 checks off: the files must exist, a re-packed copy is fine."""

        train_list = [[f, None] for f, _ in base.train_list]
        test_list = [[f, None] for f, _ in base.test_list]
        meta = dict(base.meta, md5=None)

    return Present


def load_cifar(name: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64; ``name`` is 'cifar10' or 'cifar100'."""
    cls = _classes({"cifar10": "CIFAR10", "cifar100": "CIFAR100"}[name])
    root = data_dir or os.path.join(os.path.expanduser("~"), ".cache", "tna-deploy", "data")
    folder = os.path.join(root, cls.base_folder)
    try:
        ds = cls(root=root, train=(split == "train"), download=not os.path.isdir(folder))
    except Exception as e:  # download errors (offline), unpickling errors of corrupt batches
        if os.path.isdir(folder):
            raise DataError(f"{name}: cannot read {folder} ({type(e).__name__}: {e}); "
                            f"re-download the python version of the dataset") from None
        raise DataError(f"{name} not found in {folder} and the download failed ({type(e).__name__}); "
                        f"download the python version of the archive and extract it into --data-dir") from None
    x = np.asarray(ds.data)
    y = np.asarray(ds.targets, dtype=np.int64)
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(x) != len(y):
        raise DataError(f"{folder}: expected (N, 32, 32, 3) images with one label each, got {x.shape}")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.uint8), y
