"""The training loop: read it top to bottom.

Per epoch: set the base's compression state (delayed ternarization), shuffle and augment with a
generator seeded by (seed, epoch), step base and twins with one Adam on the method's loss, decay
the learning rate, test, then write checkpoint, metrics and plot atomically. ``--resume`` restores
everything a later epoch depends on, so a resumed run ends where an uninterrupted one does.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..config import TrainConfig
from ..data import augment, encode, load_split
from ..data.encode import input_scale
from ..errors import ConfigError, TrainingDiverged
from ..quant import compression_active
from ..atomic import write_json, write_jsonl
from .checkpoint import CHECKPOINT, CONFIG, METRICS, load_checkpoint, save_checkpoint
from .losses import kd_ce_loss, kd_loss, single_loss, tna_loss
from .runs import ModelMeta, accuracy, load_teacher, make_networks

log = logging.getLogger(__name__)
BatchCallback = Callable[[int, int, int, float], None]      # epoch, batch, n_batches, loss
EpochCallback = Callable[[dict], None]


@dataclass
class TrainResult:
    run_dir: str
    history: list
    resumed_from: int

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def check_run_dir(cfg: TrainConfig, run_dir: str, resume: bool) -> Optional[dict]:
    """Refuse to overwrite a run; on resume, the saved config must equal ``cfg``. Returns the checkpoint."""
    ckpt_path = os.path.join(run_dir, CHECKPOINT)
    if os.path.isdir(run_dir):   # a process killed while writing leaves its temp file behind
        for name in os.listdir(run_dir):
            if name.startswith(".tmp-"):
                os.unlink(os.path.join(run_dir, name))
    if not resume:
        if os.path.exists(ckpt_path):
            raise ConfigError(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out")
        return None
    if not os.path.exists(ckpt_path):
        log.info("no checkpoint in %s yet: starting from epoch 1", run_dir)
        return None
    ckpt = load_checkpoint(ckpt_path)
    saved = ckpt["config"]
    diff = sorted(k for k, v in cfg.to_dict().items() if saved.get(k) != v)
    if diff:
        parts = ", ".join(f"{k} ({saved.get(k)!r} saved, {getattr(cfg, k)!r} now)" for k in diff[:4])
        raise ConfigError(f"--resume of {run_dir} with a different config: {parts}; "
                          f"drop those flags or use another --out")
    return ckpt


def train(cfg: TrainConfig, run_dir: str, resume: bool = False,
          on_batch: Optional[BatchCallback] = None, on_epoch: Optional[EpochCallback] = None,
          stop_after_batches: Optional[int] = None) -> TrainResult:
    """Train ``cfg`` into ``run_dir``. ``stop_after_batches`` simulates a kill (tests)."""
    ckpt = check_run_dir(cfg, run_dir, resume)
    train_set, test_set = load_split(cfg, "train"), load_split(cfg, "test")
    meta = ModelMeta(train_set.in_shape, train_set.n_classes, input_scale(cfg, train_set.event_data),
                     train_set.event_data)
    teacher = load_teacher(cfg.teacher, meta)

    torch.manual_seed(cfg.seed)
    base, twins = make_networks(cfg, meta)
    nets = [base] + twins
    params = [p for net in nets for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_gamma)
    history: list[dict] = []
    start = 0
    if ckpt is not None:
        base.load_state_dict(ckpt["base"])
        for net, state in zip(twins, ckpt["twins"]):
            net.load_state_dict(state)
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        history, start = list(ckpt["history"]), int(ckpt["epoch"])
    os.makedirs(run_dir, exist_ok=True)
    write_json(os.path.join(run_dir, CONFIG), dict(cfg.resolved(), meta=meta.to_dict()))

    enc = lambda xb: encode(xb, cfg.timesteps, cfg.input_bits, meta.event_data)  # noqa: E731
    qe = cfg.resolved_quantize_epoch
    batches_done = 0
    for epoch in range(start, cfg.epochs):
        base.set_compression(compression_active(epoch, qe))
        for net in nets:
            net.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(train_set), generator=gen)
        n_batches = math.ceil(len(order) / cfg.batch_size)
        sums = dict(loss=0.0, ce_base=0.0, ce_twin=0.0, match=0.0, correct_base=0, correct_twin=0)
        t0 = time.perf_counter()
        for b in range(n_batches):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = train_set.x[idx], train_set.y[idx]
            if cfg.augment:
                xb = augment(xb, gen, meta.event_data)
            x = enc(xb)
            logits_b = base(x)
            logits_t = [t(x) for t in twins]
            if cfg.method == "tna":
                parts = tna_loss(logits_b, logits_t, yb, cfg.resolved_alpha)
            elif cfg.method == "single":
                parts = single_loss(logits_b, yb)
            else:
                with torch.no_grad():
                    logits_teacher = teacher(x)
                parts = (kd_loss(logits_b, logits_teacher, yb) if cfg.method == "kd"
                         else kd_ce_loss(logits_b, logits_teacher, yb, cfg.resolved_alpha))
            if not torch.isfinite(parts.total):
                raise TrainingDiverged(
                    f"loss became {float(parts.total)} at epoch {epoch + 1}, batch {b + 1}: lower --lr or --alpha "
                    f"(the last good checkpoint, if any, is {os.path.join(run_dir, CHECKPOINT)})")
            opt.zero_grad(set_to_none=True)
            parts.total.backward()
            opt.step()
            n = len(yb)
            sums["loss"] += float(parts.total) * n
            sums["ce_base"] += parts.ce_base * n
            sums["ce_twin"] += parts.ce_twin * n
            sums["match"] += parts.match * n
            sums["correct_base"] += int((logits_b.argmax(1) == yb).sum())
            if logits_t:
                sums["correct_twin"] += int((logits_t[0].argmax(1) == yb).sum())
            if on_batch:
                on_batch(epoch, b, n_batches, float(parts.total))
            batches_done += 1
            if stop_after_batches is not None and batches_done >= stop_after_batches:
                raise KeyboardInterrupt("stopped by stop_after_batches")
        seconds = time.perf_counter() - t0
        lr = opt.param_groups[0]["lr"]
        sched.step()
        n_train = len(order)
        row = dict(epoch=epoch + 1, lr=lr, seconds=round(seconds, 3), images_per_s=round(n_train / seconds, 2),
                   compressed=base.compressed,
                   train_loss=sums["loss"] / n_train, ce_base=sums["ce_base"] / n_train,
                   ce_twin=_nan_none(sums["ce_twin"] / n_train), match=_nan_none(sums["match"] / n_train),
                   train_acc_base=100.0 * sums["correct_base"] / n_train,
                   train_acc_twin=100.0 * sums["correct_twin"] / n_train if twins else None,
                   test_acc_base=accuracy(base, test_set.x, test_set.y, enc),
                   test_acc_twin=accuracy(twins[0], test_set.x, test_set.y, enc) if twins else None)
        history.append(row)
        save_checkpoint(os.path.join(run_dir, CHECKPOINT), dict(
            config=cfg.to_dict(), meta=meta.to_dict(), epoch=epoch + 1, compressed=base.compressed,
            base=base.state_dict(), twins=[t.state_dict() for t in twins], optimizer=opt.state_dict(),
            scheduler=sched.state_dict(), rng=torch.get_rng_state(), history=history))
        write_jsonl(os.path.join(run_dir, METRICS), history)
        from .plot import plot_history
        plot_history(history, os.path.join(run_dir, "curves.png"))
        log.info("epoch %d: %s", epoch + 1, row)
        if on_epoch:
            on_epoch(row)
    return TrainResult(run_dir, history, start)


def _nan_none(v: float):
    return None if v != v else v
