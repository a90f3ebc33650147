"""Shared fixtures: small datasets written in the real on-disk formats."""
from __future__ import annotations

import os

import pytest

from helpers import TINY_ARCH, make_images, write_idx


@pytest.fixture(scope="session")
def fmnist_dir(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("fmnist")
    for split, n, seed in (("train", 96, 1), ("t10k", 32, 2)):
        x, y = make_images(n, seed)
        write_idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz"), x[..., 0])
        write_idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"), y)
    return str(d)


@pytest.fixture
def tiny_cfg(fmnist_dir):
    from tna_deploy.config import TrainConfig

    def make(**kw):
        base = dict(dataset="fashion-mnist", data_dir=fmnist_dir, arch=TINY_ARCH, width=1.0, timesteps=3,
                    method="tna", weights="ternary", quantize_epoch=1, epochs=2, batch_size=32,
                    limit_train=64, limit_test=32, seed=0)
        base.update(kw)
        return TrainConfig(**base)
    return make
