"""One entry point for every dataset: an in-memory ``Split`` of integer inputs and labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError
from .registry import DATASETS, loader


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


SPLITS = ("train", "val", "test")


def load_split(cfg, split: str) -> Split:
    """Load ``split`` of ``cfg.dataset``: 'test', or 'train' / 'val', the training samples (cut to
    --limit-train) without / with only their last --val-split samples."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "val" and not cfg.val_split:
        raise DataError("there is no validation split: set --val-split N")
    limit = cfg.limit_test if split == "test" else cfg.limit_train
    if cfg.dataset not in DATASETS:
        raise DataError(f"unknown dataset {cfg.dataset!r}")
    x, y = loader(cfg.dataset)(cfg, "test" if split == "test" else "train", limit)
    if limit:
        x, y = x[:limit], y[:limit]
    held = cfg.val_split if split != "test" else None
    if held:
        if held >= len(y):
            raise DataError(
                f"--val-split {held} leaves no training samples: {cfg.dataset} has {len(y)}; "
                f"hold out fewer"
            )
        x, y = (
            (x[len(y) - held :], y[len(y) - held :])
            if split == "val"
            else (x[: len(y) - held], y[: len(y) - held])
        )
    n_classes = DATASETS[cfg.dataset].classes
    if len(y) == 0:
        raise DataError(f"{cfg.dataset} {split} split is empty")
    if y.max() >= n_classes:
        raise DataError(
            f"{cfg.dataset} {split}: label {int(y.max())} out of range 0..{n_classes - 1}"
        )
    return Split(
        torch.from_numpy(np.ascontiguousarray(x)),
        torch.from_numpy(y),
        n_classes,
        event_data=DATASETS[cfg.dataset].event_data,
    )
