"""Silent nonsense from flags and a run folder that cannot take the run: a learning rate that kills the
network, a --resume with nothing saved, an --out that cannot be written or fills up: one line each."""

from __future__ import annotations

import os

import pytest

from tna_deploy.errors import CheckpointError, ConfigError, TrainingDiverged
from tna_deploy.train.loop import train


@pytest.mark.slayer
def test_a_dead_network_stops_the_run_naming_the_learning_rate(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        lr=1e9, batch_size=8, limit_train=96, epochs=4, quantize_epoch=None, weights="fp"
    )
    with pytest.raises(
        TrainingDiverged, match=r"stopped depending on its input .* lower --lr \(now 1e\+09\)"
    ):
        train(cfg, str(tmp_path / "dead"))


@pytest.mark.slayer
def test_a_healthy_run_is_not_called_dead(tiny_cfg, tmp_path):
    res = train(
        tiny_cfg(batch_size=8, limit_train=96, epochs=1, quantize_epoch=None, weights="fp"),
        str(tmp_path / "ok"),
    )
    assert len(res.history) == 1


@pytest.mark.slayer
def test_a_dead_network_in_a_run_of_few_batches_is_caught_at_its_last_epoch(tiny_cfg, tmp_path):
    """Fewer than 5 batches an epoch: the per-epoch share never applied; the last epoch is judged whole."""
    cfg = tiny_cfg(
        lr=1e9, batch_size=32, limit_train=96, epochs=2, quantize_epoch=None, weights="fp"
    )
    with pytest.raises(TrainingDiverged, match=r"lower --lr \(now 1e\+09\)"):
        train(cfg, str(tmp_path / "dead"))


def test_resume_with_nothing_saved_is_refused_before_any_work(tiny_cfg, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (empty, tmp_path / "missing"):
        with pytest.raises(ConfigError, match="nothing to resume there .* drop --resume"):
            train(tiny_cfg(), str(out), resume=True)
    assert os.listdir(empty) == [] and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("how", ["under-a-file", "read-only"])
def test_an_out_that_cannot_take_the_run_is_one_line_before_the_data(
    tiny_cfg, tmp_path, how, monkeypatch
):
    import tna_deploy.train.loop as loop

    if how == "under-a-file":
        (tmp_path / "plain").write_text("x")
        out = tmp_path / "plain" / "run"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        (tmp_path / "ro").mkdir(mode=0o500)
        out = tmp_path / "ro" / "run"

    def no_data(*a, **k):
        raise AssertionError("the data was loaded before --out was checked")

    monkeypatch.setattr(loop, "load_split", no_data)
    with pytest.raises(ConfigError, match=f"--out {out}: cannot write there"):
        train(tiny_cfg(), str(out))


@pytest.mark.slayer
def test_a_disk_that_fails_the_epoch_save_is_one_line_and_keeps_the_last_epoch(
    tiny_cfg, tmp_path, monkeypatch
):
    import errno

    import tna_deploy.train.loop as loop

    out = tmp_path / "run"
    cfg = tiny_cfg(epochs=2, quantize_epoch=1, limit_train=32, batch_size=16)
    real, calls = loop.save_checkpoint, []

    def full_on_second(path, state):
        calls.append(state["epoch"])
        if state["epoch"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, state)

    monkeypatch.setattr(loop, "save_checkpoint", full_on_second)
    with pytest.raises(
        CheckpointError, match="could not save epoch 2 \\(No space left on device\\)"
    ):
        train(cfg, str(out))
    import torch

    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_an_architecture_too_large_to_allocate_is_one_line(tiny_cfg, tmp_path):
    with pytest.raises(
        ConfigError, match=r"--arch 99999999C3-10FC .* holds [\d,]+ weights per network"
    ):
        train(tiny_cfg(arch="99999999C3-10FC"), str(tmp_path / "huge"))
    assert not (tmp_path / "huge" / "checkpoint.pt").exists()
