"""``rasters.batch_major``: a time-major layer output handed out as the (K, *shape, T) raster, equal to a
plain cast, laid out per sample and time-major with the inner axes in the output's own memory order,
whatever its strides; the emulator's and the PyTorch reference's rasters then share one memory order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tna_deploy.engine.rasters import batch_major
from tna_deploy.simulate.layout import memory_order

MEMORIES = {  # s (T, K, C, H, W) as a view of memory in these orders of its axes
    "(T, K, H, W, C): the emulator's channels-last conv": (0, 1, 3, 4, 2),
    "(T, K, C, H, W): contiguous": (0, 1, 2, 3, 4),
    "(K, T, C, H, W)": (1, 0, 2, 3, 4),
    "(C, T, K, W, H)": (2, 0, 1, 4, 3),
}


@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32])
def test_batch_major_equals_a_cast_in_per_sample_time_major_memory(memory, dtype):
    order = MEMORIES[memory]
    rng = np.random.default_rng(len(memory))
    logical = (rng.random((5, 3, 4, 6, 7)) < 0.4).astype(np.float32) * (
        rng.integers(1, 9, (5, 3, 4, 6, 7)) if dtype == torch.int32 else 1
    )
    base = torch.from_numpy(np.ascontiguousarray(logical.transpose(order)))
    s = base.permute(*np.argsort(order))  # logical (T, K, C, H, W), memory in ``order``
    assert torch.equal(s, torch.from_numpy(logical))
    got = batch_major(s, dtype)
    assert got.shape == (3, 4, 6, 7, 5) and got.dtype == np.dtype(str(dtype).split(".")[1])
    assert np.array_equal(got, logical.transpose(1, 2, 3, 4, 0).astype(got.dtype))
    inner = [i for i in order if i >= 2]  # s's inner axes as its memory holds them
    want = (0, 4, *(i - 1 for i in inner))  # in the raster's axes: K, T, then those
    assert memory_order(got) == want


def test_a_dense_layer_and_one_sample():
    s = torch.from_numpy((np.random.default_rng(0).random((6, 1, 9)) < 0.5).astype(np.float32))
    got = batch_major(s, torch.uint8)
    assert got.shape == (1, 9, 6) and np.array_equal(got, s.numpy().transpose(1, 2, 0))
    assert got.transpose(0, 2, 1).flags.c_contiguous  # (K, T, n) memory
