"""Helpers for tests: small datasets written in the real on-disk formats."""

from __future__ import annotations

import functools
import gzip
import struct
from typing import Optional

import numpy as np

TINY_ARCH = "4C3-AP2-8FC"


@functools.lru_cache(maxsize=None)
def no_lava() -> Optional[str]:
    """Why Lava's runtime and netx cannot run here (CPython 3.10 with the lava extra only), or None."""
    from tna_deploy.lava_import import missing

    return missing("lava.lib.dl.netx", "this test")


@functools.lru_cache(maxsize=None)
def no_slayer() -> Optional[str]:
    """Why lava-dl's SLAYER cannot be imported here, or None."""
    from tna_deploy.lava_import import missing

    return missing("lava.lib.dl.slayer", "this test")


def write_idx(path: str, arr: np.ndarray) -> None:
    """Write an IDX file exactly as the MNIST/Fashion-MNIST originals are laid out (gzipped)."""
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + b"".join(
        struct.pack(">I", d) for d in arr.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def make_images(
    n: int, seed: int, size: int = 28, channels: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Class c is a bright horizontal band at row band c, plus noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 40, (n, size, size, channels)).astype(np.uint8)
    step = size // 10
    for i, c in enumerate(y):
        x[i, c * step : (c + 1) * step] = 220
    return x, y


def tiny_config(data_dir: str, **overrides):
    """A TrainConfig for a seconds-long run on the fixture data; overrides win."""
    from tna_deploy.train.config import TrainConfig

    base = dict(
        dataset="fashion-mnist",
        data_dir=data_dir,
        arch=TINY_ARCH,
        width=1.0,
        timesteps=3,
        method="tna",
        weights="ternary",
        quantize_epoch=1,
        epochs=2,
        batch_size=32,
        limit_train=64,
        limit_test=32,
        seed=0,
    )
    base.update(overrides)
    return TrainConfig(**base)


def reseal(d) -> None:
    """Record a simulate folder's hand-edited files in its manifest, if it has one: the set is then complete
    and consistent again, and only the readers stand between the edit and the report."""
    import hashlib
    import json
    import os

    path = os.path.join(d, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            m = json.load(f)
        m["files"] = {
            name: hashlib.sha256(open(os.path.join(d, name), "rb").read()).hexdigest()
            for name in m["files"]
        }
        with open(path, "w") as f:
            json.dump(m, f)


def conv_dense_net(neuron, *, input_neuron=None, dense=None, timesteps=None):
    """The hand-built network several tests share: a (2, 4, 4) input (with a neuron of its own when
    ``input_neuron`` is given), a 3x3 conv of 3 channels (stride 2, padding 1), flatten, a dense layer of 2
    (``dense``: its weights, a fixed pattern by default); ``neuron`` on both compute layers."""
    import numpy as np

    from tna_deploy.ir import DeployedNet, Layer

    conv = np.arange(54).reshape(3, 2, 3, 3) % 5 - 1
    dense = np.arange(24).reshape(2, 12) % 7 - 2 if dense is None else dense
    layers = (
        Layer("input", 0, (2, 4, 4), (2, 4, 4), neuron=input_neuron),
        Layer("conv", 1, (2, 4, 4), (3, 2, 2), neuron, conv, stride=(2, 2), padding=(1, 1)),
        Layer("flatten", 2, (3, 2, 2), (12,)),
        Layer("dense", 3, (12,), (2,), neuron, dense),
    )
    return DeployedNet(layers, (2, 4, 4), timesteps=timesteps)
