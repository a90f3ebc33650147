"""--device and the memory check before a run starts."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from tna_deploy.cli import main
from tna_deploy.errors import ConfigError
from tna_deploy.train import device as devmod
from tna_deploy.train.device import estimate_train_bytes, resolve_device


def test_cpu_and_auto_resolve_without_cuda():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_line(tiny_cfg, tmp_path, fmnist_dir):
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data-dir",
            fmnist_dir,
            "--arch",
            "4C3-8FC",
            "--epochs",
            "1",
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert r.exit_code == 2 and "no CUDA device" in r.output and "Traceback" not in r.output


def test_bad_device_name():
    with pytest.raises(ConfigError, match="choose auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.slayer
def test_estimate_grows_with_batch_and_twins(tiny_cfg):
    from tna_deploy.train.runs import ModelMeta, make_networks

    base, twins = make_networks(tiny_cfg(), ModelMeta((1, 28, 28), 10, 15.0, False))
    for n in [base] + twins:
        n(torch.zeros(1, 1, 28, 28, 3))
    one = estimate_train_bytes([base], 32, 3, "fast")
    assert estimate_train_bytes([base], 64, 3, "fast") > one
    assert estimate_train_bytes([base] + twins, 32, 3, "fast") > one
    assert estimate_train_bytes([base], 32, 3, "slayer") > one


@pytest.mark.slayer
def test_a_run_that_does_not_fit_is_refused_with_a_batch_size_that_does(
    tiny_cfg, tmp_path, monkeypatch
):
    from tna_deploy.train.loop import train

    need = {}

    def fake_free(device):
        return need["free"]

    monkeypatch.setattr(devmod, "free_bytes", fake_free)
    need["free"] = int(
        (devmod.FIXED_BYTES + (10 << 20)) / 0.9
    )  # room for the fixed part and ~25 images
    with pytest.raises(ConfigError) as e:
        train(tiny_cfg(batch_size=4096, limit_train=96), str(tmp_path / "big"))
    msg = str(e.value)
    assert "GB free" in msg and "--batch-size" in msg and "fits" in msg
    assert not (tmp_path / "big" / "checkpoint.pt").exists()
