import json
import os

import pytest
import torch

from tna_deploy.errors import CheckpointError, ConfigError, TrainingDiverged
from tna_deploy.train.checkpoint import CHECKPOINT, METRICS, load_checkpoint
from tna_deploy.train.loop import train
from tna_deploy.train.runs import load_run

TIMING = ("seconds", "images_per_s")


def _strip(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history]


@pytest.mark.slayer
def test_training_updates_base_and_twin_and_compresses_base_only(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    torch.manual_seed(cfg.seed)
    from tna_deploy.train.runs import ModelMeta, make_networks

    base0, twins0 = make_networks(cfg, ModelMeta((1, 28, 28), 10, 255.0, False))
    res = train(cfg, str(tmp_path / "run"))
    run = load_run(str(tmp_path / "run"))
    for before, after in ((base0, run.base), (twins0[0], run.twins[0])):
        for k, v in before.state_dict().items():
            if v.is_floating_point() and "synapse.weight" in k and not k.startswith("blocks.1."):
                assert not torch.equal(v, after.state_dict()[k]), k  # every trained layer moved
    assert [r["compressed"] for r in res.history] == [False, True]
    assert run.base.compressed
    dense = run.base.quantized_weight(3)
    assert dense.unique().numel() == 3
    assert run.twins[0].quantized_weight(3).unique().numel() > 3
    rows = [json.loads(line) for line in open(tmp_path / "run" / METRICS)]
    assert len(rows) == 2 and {
        "ce_base",
        "ce_twin",
        "match",
        "test_acc_base",
        "test_acc_twin",
        "lr",
        "images_per_s",
        "train_acc_base",
    } <= set(rows[0])
    assert rows[1]["lr"] == pytest.approx(0.01 * 0.928)
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000


@pytest.mark.slayer
def test_val_split_trains_on_the_rest_and_scores_the_held_out_samples(tiny_cfg, tmp_path):
    held = train(tiny_cfg(limit_train=64, val_split=16), str(tmp_path / "held"))
    plain = train(tiny_cfg(limit_train=48), str(tmp_path / "plain"))
    val_keys = ("val_acc_base", "val_acc_twin")
    # the same 48 training samples in the same order: the same training, only the val scores added
    assert [
        {k: v for k, v in r.items() if k not in val_keys} for r in _strip(held.history)
    ] == _strip(plain.history)
    from tna_deploy.data.datasets import load_split
    from tna_deploy.data.encode import encode
    from tna_deploy.train.runs import accuracy

    run = load_run(str(tmp_path / "held"))
    val = load_split(run.cfg, "val")
    enc = lambda xb: encode(xb, run.cfg.timesteps, run.cfg.input_bits, False)  # noqa: E731
    assert len(val) == 16
    assert held.history[-1]["val_acc_base"] == pytest.approx(accuracy(run.base, val.x, val.y, enc))
    assert held.history[-1]["val_acc_twin"] == pytest.approx(
        accuracy(run.twins[0], val.x, val.y, enc)
    )


@pytest.mark.slayer
def test_resume_after_a_kill_gives_the_uninterrupted_result(tiny_cfg, tmp_path):
    cfg = tiny_cfg(epochs=3, quantize_epoch=1)
    full = train(cfg, str(tmp_path / "full"))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path / "cut"), stop_after_batches=3)  # killed in the middle of epoch 2
    assert load_checkpoint(str(tmp_path / "cut" / CHECKPOINT))["epoch"] == 1
    resumed = train(cfg, str(tmp_path / "cut"), resume=True)
    assert resumed.resumed_from == 1
    assert _strip(resumed.history) == _strip(full.history)
    a = load_checkpoint(str(tmp_path / "full" / CHECKPOINT))
    b = load_checkpoint(str(tmp_path / "cut" / CHECKPOINT))
    for key in ("base",):
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), k
    for ta, tb in zip(a["twins"], b["twins"]):
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert all(
        torch.equal(a["optimizer"]["state"][i]["exp_avg"], b["optimizer"]["state"][i]["exp_avg"])
        for i in a["optimizer"]["state"]
    )


@pytest.mark.slayer
def test_resume_with_a_different_config_is_refused(tiny_cfg, tmp_path):
    train(tiny_cfg(epochs=1, quantize_epoch=0), str(tmp_path / "r"))
    with pytest.raises(ConfigError, match="different config: alpha"):
        train(tiny_cfg(epochs=1, quantize_epoch=0, alpha=0.5), str(tmp_path / "r"), resume=True)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny_cfg(epochs=1, quantize_epoch=0), str(tmp_path / "r"))


@pytest.mark.slayer
def test_nan_loss_stops_with_one_error(tiny_cfg, tmp_path, monkeypatch):
    import tna_deploy.train.losses as losses

    real = losses.tna_loss

    def poisoned(*a, **k):
        parts = real(*a, **k)
        parts.total = parts.total * float("nan")
        return parts

    monkeypatch.setattr(losses, "tna_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1, batch 1"):
        train(tiny_cfg(), str(tmp_path / "n"))
    assert not os.path.exists(tmp_path / "n" / CHECKPOINT)


@pytest.mark.slayer
@pytest.mark.parametrize("damage", ["truncate", "garbage", "pickle"])
def test_corrupt_checkpoints_are_refused(tiny_cfg, tmp_path, damage):
    run = tmp_path / "c"
    train(tiny_cfg(epochs=1, quantize_epoch=0), str(run))
    path = run / CHECKPOINT
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:  # a pickle that would run code: weights_only=True must refuse it
        import pickle

        path.write_bytes(
            pickle.dumps(type("Evil", (), {"__reduce__": lambda s: (os.system, ("true",))})())
        )
    with pytest.raises(CheckpointError, match="corrupt or not a tna-deploy checkpoint"):
        load_run(str(run))


@pytest.mark.slayer
def test_single_kd_and_kd_ce_methods(tiny_cfg, tmp_path):
    teacher = tmp_path / "teacher"
    r = train(tiny_cfg(method="single", weights="fp", quantize_epoch=None, epochs=1), str(teacher))
    assert r.final["ce_twin"] is None and r.final["test_acc_twin"] is None
    for method in ("kd", "kd-ce"):
        res = train(
            tiny_cfg(method=method, teacher=str(teacher), epochs=1, quantize_epoch=0),
            str(tmp_path / method),
        )
        assert res.final["match"] is not None and res.final["match"] >= 0
    t2 = train(tiny_cfg(twins=2, epochs=1, quantize_epoch=0), str(tmp_path / "three"))
    assert len(load_run(str(tmp_path / "three")).twins) == 2 and t2.final["ce_twin"] is not None
