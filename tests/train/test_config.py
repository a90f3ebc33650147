import pytest

from tna_deploy.errors import ConfigError
from tna_deploy.train.config import PAPER_ALPHA, TrainConfig, with_preset


def test_defaults_are_the_papers():
    c = TrainConfig()
    assert (c.lr, c.batch_size, c.lr_gamma, c.timesteps, c.epochs, c.delta) == (
        0.01,
        256,
        0.928,
        5,
        250,
        0.1,
    )
    assert c.resolved_dropout == 0.2 and TrainConfig(dataset="cifar10-dvs").resolved_dropout == 0.5
    assert c.resolved_quantize_epoch == 150
    assert c.resolved_alpha == PAPER_ALPHA["fashion-mnist"] == 1e-4
    assert TrainConfig(method="kd-ce", teacher="x").resolved_alpha == 1e-5


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(alpha=-0.1), "--alpha"),
        (dict(quantize_epoch=5, epochs=5), "beyond --epochs"),
        (dict(quantize_epoch=9, epochs=5), "beyond --epochs"),
        (dict(dataset="mnist"), "unknown dataset"),
        (dict(method="kd"), "--teacher"),
        (dict(width=0), "--width"),
        (dict(delta=1.5), "--delta"),
        (dict(epochs=0), "--epochs"),
        (dict(weights="fp", quantize_epoch=1), "--quantize-epoch"),
        (dict(val_split=0), "--val-split must be at least 1"),
        (dict(limit_train=100, val_split=100), "leaves no training samples"),
    ],
)
def test_impossible_settings_are_refused(kw, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**kw)


def test_preset_then_flags():
    c = with_preset("cpu", {"epochs": 3})
    assert c.width == 0.125 and c.epochs == 3 and c.quantize_epoch == 1
    assert with_preset("cpu", {"weights": "fp"}).quantize_epoch is None


def test_round_trip():
    c = TrainConfig(width=0.5, alpha=1e-3)
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="unknown config field"):
        TrainConfig.from_dict(dict(c.to_dict(), bogus=1))
