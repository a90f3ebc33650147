"""The datasets, in one registry: ``train --dataset`` (its choices and help), the config's check,
the class count and ``load_split``'s dispatch read it. Import-light (no torch): the CLI reads it at
startup. A new dataset is one reader module with a ``load(cfg, split, limit)`` function and one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    classes: int
    event_data: bool  # True: (N, C, H, W, T) event counts; False: (N, C, H, W) static images
    loader: str  # "module:function" under tna_deploy.data: ``(cfg, split, limit) -> (x, y)``
    help: str


DATASETS: dict[str, Dataset] = {
    "fashion-mnist": Dataset(10, False, "fashion_mnist:load", "Fashion-MNIST, 28x28 grey images"),
    "cifar10": Dataset(10, False, "cifar:load", "CIFAR-10, 32x32 colour images"),
    "cifar100": Dataset(100, False, "cifar:load", "CIFAR-100, 32x32 colour images"),
    "cifar10-dvs": Dataset(
        10, True, "dvs:load", "CIFAR10-DVS event recordings, binned to --timesteps frames"
    ),
}


def loader(name: str):
    """The reader function of dataset ``name`` (imported only when a dataset is loaded)."""
    module, func = DATASETS[name].loader.split(":")
    return getattr(importlib.import_module(f".{module}", __package__), func)
