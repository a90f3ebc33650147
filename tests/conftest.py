"""Shared fixtures: small datasets written in the real on-disk formats."""
from __future__ import annotations

import os

import pytest

from helpers import make_images, tiny_config, write_idx


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
    return lambda **kw: tiny_config(fmnist_dir, **kw)


@pytest.fixture(scope="session")
def exported(fmnist_dir, tmp_path_factory):
    """A small trained run exported to netx: (run dir, netx path, a scratch folder)."""
    from tna_deploy.export import to_netx
    from tna_deploy.train.loop import train
    d = tmp_path_factory.mktemp("sim")
    train(tiny_config(fmnist_dir, arch="4C3-8C3-AP2-16FC", timesteps=4, seed=1), str(d / "run"))
    to_netx(str(d / "run"), str(d / "net.net"))
    return str(d / "run"), str(d / "net.net"), d
