"""Silent nonsense from flags: a learning rate that kills the network stops the run with one line."""

from __future__ import annotations

import pytest

from tna_deploy.errors import TrainingDiverged
from tna_deploy.train.loop import train


def test_a_dead_network_stops_the_run_naming_the_learning_rate(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        lr=1e9, batch_size=8, limit_train=96, epochs=4, quantize_epoch=None, weights="fp"
    )
    with pytest.raises(
        TrainingDiverged, match=r"stopped depending on its input .* lower --lr \(now 1e\+09\)"
    ):
        train(cfg, str(tmp_path / "dead"))


def test_a_healthy_run_is_not_called_dead(tiny_cfg, tmp_path):
    res = train(
        tiny_cfg(batch_size=8, limit_train=96, epochs=1, quantize_epoch=None, weights="fp"),
        str(tmp_path / "ok"),
    )
    assert len(res.history) == 1
