"""One entry point for every dataset: an in-memory ``Split`` of integer inputs and labels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError

N_CLASSES = {"fashion-mnist": 10, "cifar10": 10, "cifar100": 100, "cifar10-dvs": 10}


@dataclass
class Split:
    """``x``: uint8 (N, C, H, W) static images or (N, C, H, W, T) event counts; ``y``: int64 (N,)."""

    x: torch.Tensor
    y: torch.Tensor
    n_classes: int
    event_data: bool

    def __len__(self) -> int:
        return len(self.y)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:4])


def load_split(cfg, split: str) -> Split:
    """Load ``split`` ('train' or 'test') of ``cfg.dataset``, cut to --limit-train / --limit-test."""
    limit = cfg.limit_train if split == "train" else cfg.limit_test
    if cfg.dataset == "fashion-mnist":
        from .fashion_mnist import load_fashion_mnist
        x, y = load_fashion_mnist(split, cfg.data_dir)
    elif cfg.dataset in ("cifar10", "cifar100"):
        from .cifar import load_cifar
        x, y = load_cifar(cfg.dataset, split, cfg.data_dir)
    elif cfg.dataset == "cifar10-dvs":
        from .dvs import load_cifar10_dvs
        x, y = load_cifar10_dvs(split, cfg.data_dir, cfg.timesteps, cfg.dvs_size, limit)
    else:
        raise DataError(f"unknown dataset {cfg.dataset!r}")
    if limit:
        x, y = x[:limit], y[:limit]
    n_classes = N_CLASSES[cfg.dataset]
    if len(y) == 0:
        raise DataError(f"{cfg.dataset} {split} split is empty")
    if y.max() >= n_classes:
        raise DataError(f"{cfg.dataset} {split}: label {int(y.max())} out of range 0..{n_classes - 1}")
    return Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), n_classes,
                 event_data=cfg.dataset == "cifar10-dvs")
