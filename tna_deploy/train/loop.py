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

from ..atomic import check_writable, clean_stale_temps, write_json, write_jsonl
from ..data.datasets import load_split
from ..data.encode import augment, encode, input_scale
from ..errors import CheckpointError, ConfigError, TnaError, TrainingDiverged
from ..quant.schedule import compression_active
from . import distributed
from .checkpoint import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    check_resume_meta,
    load_checkpoint,
    load_run_config,
    restore_training,
    save_checkpoint,
)
from .config import ENGINES, TrainConfig
from .device import check_fits, check_weights_fit, resolve_device
from .distributed import ranks_from_env
from .methods import METHODS
from .runs import ModelMeta, correct_count, load_teacher, make_networks

log = logging.getLogger(__name__)
BatchCallback = Callable[[int, int, int, float], None]  # epoch, images done, images in epoch, loss
EpochCallback = Callable[[dict], None]


@dataclass
class TrainResult:
    run_dir: str
    history: list
    resumed_from: int

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def check_run_dir(
    cfg: TrainConfig, run_dir: str, resume: bool, clean: bool = True
) -> Optional[dict]:
    """Refuse to overwrite a run; on resume, the saved config (the checkpoint's, or config.json's when no
    epoch finished) must equal ``cfg``. Returns the checkpoint. Cleans up only once nothing is refused."""
    ckpt_path = os.path.join(run_dir, CHECKPOINT)
    ckpt = None
    if not resume:
        if os.path.exists(ckpt_path):
            raise ConfigError(
                f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out"
            )
    elif os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path, resume=True)
        _refuse_changes(run_dir, ckpt["config"], cfg)
    elif (saved := load_run_config(run_dir)) is not None:
        _refuse_changes(run_dir, saved, cfg)
        log.info("no epoch of %s finished yet: starting over from its saved config", run_dir)
    else:
        raise ConfigError(
            f"--resume {run_dir}: nothing to resume there (no {CHECKPOINT} or {CONFIG}); "
            f"drop --resume to start a new run"
        )
    if clean and os.path.isdir(
        run_dir
    ):  # a process killed while writing leaves its temp file behind
        clean_stale_temps(run_dir)
    return ckpt


def _refuse_changes(run_dir: str, saved: dict, cfg: TrainConfig) -> None:
    """Compare resolved values: an alpha left to the paper's default equals that default given explicitly."""
    try:
        before = TrainConfig.from_dict(saved).resolved()
    except (TnaError, TypeError) as e:
        raise CheckpointError(
            f"{run_dir}: the saved config is not valid ({e}); use another --out"
        ) from None
    now = cfg.resolved()
    diff = sorted(k for k, v in now.items() if before.get(k) != v)
    if diff:
        parts = ", ".join(f"{k} ({before.get(k)!r} saved, {now[k]!r} now)" for k in diff[:4])
        raise ConfigError(
            f"--resume of {run_dir} with a different config: {parts}; "
            f"drop those flags or use another --out"
        )


def interrupt_message(run_dir: str, resume: bool, started: float) -> str:
    """What an interrupted ``train`` left in ``run_dir``, truthfully: an epoch, only the config, or nothing."""
    if os.path.exists(os.path.join(run_dir, CHECKPOINT)):
        return f"interrupted: the last finished epoch is saved in {run_dir}; re-run with --resume to continue"
    config = os.path.join(run_dir, CONFIG)
    if os.path.exists(config) and (
        resume or os.path.getmtime(config) >= started - 1
    ):  # coarse fs clocks
        return (
            f"interrupted: no epoch finished yet, only the config is saved in {run_dir}; re-run the same "
            f"command with --resume to start over from the saved config"
        )
    return "interrupted before anything was saved; re-run the same command to start over"


def train(
    cfg: TrainConfig,
    run_dir: str,
    resume: bool = False,
    on_batch: Optional[BatchCallback] = None,
    on_epoch: Optional[EpochCallback] = None,
    stop_after_batches: Optional[int] = None,
    engine: str = "fast",
    device: str = "cpu",
) -> TrainResult:
    """Train ``cfg`` into ``run_dir``. ``stop_after_batches`` simulates a kill (tests).

    ``engine``: ``fast`` or ``slayer`` (same blocks, same checkpoints). ``device``: auto, cpu, cuda[:N].
    Under torchrun every rank calls this; rank 0 alone writes files and calls the callbacks."""
    ranks = ranks_from_env()
    dev = resolve_device(device, ranks.local_rank)
    distributed.init(ranks, dev)
    try:
        result = _train(
            cfg,
            run_dir,
            resume,
            on_batch if ranks.is_main else None,
            on_epoch if ranks.is_main else None,
            stop_after_batches,
            engine,
            dev,
            ranks,
        )
    except BaseException:
        distributed.shutdown(ranks, finished=False)
        raise
    distributed.shutdown(ranks)
    return result


def _train(
    cfg, run_dir, resume, on_batch, on_epoch, stop_after_batches, engine, dev, ranks
) -> TrainResult:
    """Set the run up (or restore it), then per epoch: train, test, save."""
    r = _setup(cfg, run_dir, resume, engine, dev, ranks)
    for epoch in range(r.start, cfg.epochs):
        sums, n_batches, n_train, seconds = _train_epoch(r, epoch, on_batch, stop_after_batches)
        row = _end_epoch(r, epoch, sums, n_batches, n_train, seconds)
        r.history.append(row)
        if ranks.is_main:
            _save_epoch(run_dir, r.history, _state(r, epoch))
        distributed.barrier(ranks)
        log.info("epoch %d: %s", epoch + 1, row)
        if on_epoch:
            on_epoch(row)
    return TrainResult(run_dir, r.history, r.start)


@dataclass
class _Run:
    """What every epoch of one run shares: data, networks, optimizer, and how far the run is."""

    cfg: TrainConfig
    run_dir: str
    engine: str
    dev: torch.device
    ranks: distributed.Ranks
    meta: ModelMeta
    train_set: object
    test_set: object
    val_set: object  # None without --val-split
    teacher: object  # None unless the method distils
    base: object
    twins: list
    model: Callable  # x -> [logits per net]; a DDP module under torchrun
    enc: Callable  # uint8 images -> input spikes on the device
    opt: torch.optim.Optimizer
    sched: object
    history: list
    start: int  # the first epoch this process trains (after the resumed ones)
    batches_done: int = 0

    @property
    def nets(self) -> list:
        return [self.base] + self.twins


def _setup(cfg, run_dir, resume, engine, dev, ranks) -> _Run:
    """Refuse what cannot run (before the data), load the data, build the networks and the optimizer,
    restore a resumed run, and write the resolved config."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if METHODS[cfg.method].loss is None:
        raise ConfigError(f"--method {cfg.method} has no loss to train with")
    ckpt = check_run_dir(cfg, run_dir, resume, clean=ranks.is_main)
    if ranks.is_main:  # before the data: a folder that cannot take the run fails in one line now
        check_writable(run_dir)
    train_set, test_set = load_split(cfg, "train"), load_split(cfg, "test")
    val_set = load_split(cfg, "val") if cfg.val_split else None
    meta = ModelMeta(
        train_set.in_shape,
        train_set.n_classes,
        input_scale(cfg, train_set.event_data),
        train_set.event_data,
    )
    if ckpt is not None:
        check_resume_meta(ckpt, os.path.join(run_dir, CHECKPOINT), meta.to_dict())
    teacher = load_teacher(cfg.teacher, meta)
    base, twins, enc, probe = _networks(cfg, meta, train_set, teacher, engine, dev, ranks)
    params = [p for net in [base] + twins for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_gamma)
    history, start = [], 0
    if ckpt is not None:  # every tensor checked against the networks of the config, then loaded
        restore_training(
            ckpt, os.path.join(run_dir, CHECKPOINT), base, twins, opt, sched, meta.to_dict()
        )
        if dev.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"], dev)
        history, start = list(ckpt["history"]), int(ckpt["epoch"])
    if ranks.is_main:
        _write_config(cfg, run_dir, meta, engine, dev, ranks)
    model = distributed.wrap([base] + twins, ranks, dev, probe)
    return _Run(
        cfg=cfg, run_dir=run_dir, engine=engine, dev=dev, ranks=ranks, meta=meta,
        train_set=train_set, test_set=test_set, val_set=val_set, teacher=teacher,
        base=base, twins=twins, model=model, enc=enc, opt=opt, sched=sched,
        history=history, start=start,
    )  # fmt: skip


def _networks(cfg, meta, train_set, teacher, engine, dev, ranks):
    """The base and its twins, seeded, on ``dev``, every neuron shaped by one probe input, and checked
    to fit the device; returns them with the input encoder and the probe."""
    check_weights_fit(cfg, meta.in_shape, meta.n_classes, 1 + cfg.n_twins, dev, _sharing(dev))
    torch.manual_seed(cfg.seed)
    base, twins = make_networks(cfg, meta)
    nets = [base] + twins
    for net in nets + ([teacher] if teacher is not None else []):
        net.engine = engine
        net.to(dev)
    enc = lambda xb: encode(xb.to(dev), cfg.timesteps, cfg.input_bits, meta.event_data)  # noqa: E731
    probe = enc(train_set.x[:1])
    with torch.no_grad():  # shapes every neuron (SLAYER learns them on first use)
        for net in nets:
            net(probe)
    share = ranks.share(min(cfg.batch_size, len(train_set)))
    sharing = _sharing(dev)
    check_fits(
        nets, share.stop - share.start, cfg.timesteps, engine, dev, cfg.width, processes=sharing
    )
    return base, twins, enc, probe


def _write_config(cfg, run_dir, meta, engine, dev, ranks) -> None:
    os.makedirs(run_dir, exist_ok=True)
    write_json(
        os.path.join(run_dir, CONFIG),
        dict(
            cfg.resolved(),
            meta=meta.to_dict(),
            runtime=dict(engine=engine, device=str(dev), processes=ranks.world),
        ),
    )


def _train_epoch(r: _Run, epoch, on_batch, stop_after_batches) -> tuple[dict, int, int, float]:
    """One pass over the training set, shuffled and augmented by a generator seeded by (seed, epoch):
    the batch sums over all ranks, the number of batches and of images, and the seconds it took."""
    cfg, ranks = r.cfg, r.ranks
    r.base.set_compression(compression_active(epoch, cfg.resolved_quantize_epoch))
    for net in r.nets:
        net.train()
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    order = torch.randperm(len(r.train_set), generator=gen)
    n_batches = math.ceil(len(order) / cfg.batch_size)
    sums = dict(
        loss=0.0, ce_base=0.0, ce_twin=0.0, match=0.0, correct_base=0, correct_twin=0, constant=0
    )
    flat = 0  # consecutive batches in which the base gave every sample the same logits
    t0 = time.perf_counter()
    for b in range(n_batches):
        idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
        xb, yb = r.train_set.x[idx], r.train_set.y[idx]
        if cfg.augment:  # the whole batch, identically on every rank, then this rank's share
            xb = augment(xb, gen, r.meta.event_data)
        mine = ranks.share(len(idx))
        x, yb = r.enc(xb[mine]), yb[mine].to(r.dev)
        logits = r.model(x)
        logits_b, logits_t = logits[0], logits[1:]
        parts = _loss(r, logits_b, logits_t, yb, x)
        if not torch.isfinite(parts.total):
            raise TrainingDiverged(
                f"loss became {float(parts.total)} at epoch {epoch + 1}, batch {b + 1}: lower --lr or --alpha "
                f"(the last good checkpoint, if any, is {os.path.join(r.run_dir, CHECKPOINT)})"
            )
        same = len(yb) > 1 and bool((logits_b - logits_b[:1]).abs().max() == 0)
        sums["constant"] += int(same)
        flat = flat + 1 if same else 0
        if flat >= DEAD_BATCHES and ranks.world == 1:
            raise _dead(cfg, epoch, f"for {flat} batches in a row")
        r.opt.zero_grad(set_to_none=True)
        parts.total.backward()
        r.opt.step()
        _add_batch(sums, parts, logits_b, logits_t, yb)
        if on_batch:
            on_batch(
                epoch, min((b + 1) * cfg.batch_size, len(order)), len(order), float(parts.total)
            )
        r.batches_done += 1
        if stop_after_batches is not None and r.batches_done >= stop_after_batches:
            raise KeyboardInterrupt("stopped by stop_after_batches")
    seconds = time.perf_counter() - t0
    keys = list(sums)
    sums = dict(zip(keys, distributed.all_sum([sums[k] for k in keys], ranks, r.dev)))
    return sums, n_batches, len(order), seconds


def _loss(r: _Run, logits_b, logits_t, yb, x):
    """The method's loss on one batch (Eq. 5 for tna), given the frozen teacher's logits where the
    method distils."""
    method = METHODS[r.cfg.method]
    logits_teacher = None
    if method.needs_teacher:
        with torch.no_grad():
            logits_teacher = r.teacher(x)
    return method.loss(logits_b, logits_t, logits_teacher, yb, r.cfg.resolved_alpha)


def _add_batch(sums: dict, parts, logits_b, logits_t, yb) -> None:
    n = len(yb)
    sums["loss"] += float(parts.total) * n
    sums["ce_base"] += parts.ce_base * n
    sums["ce_twin"] += parts.ce_twin * n
    sums["match"] += parts.match * n
    sums["correct_base"] += int((logits_b.argmax(1) == yb).sum())
    if logits_t:
        sums["correct_twin"] += int((logits_t[0].argmax(1) == yb).sum())


def _end_epoch(r: _Run, epoch, sums, n_batches, n_train, seconds) -> dict:
    """Refuse a dead network, decay the learning rate, test; the epoch's row of metrics."""
    cfg, ranks, base, twins = r.cfg, r.ranks, r.base, r.twins
    last = epoch == cfg.epochs - 1  # a short run is judged by its last epoch, whole
    if (n_batches >= 5 or (last and n_batches * ranks.world >= 2)) and sums[
        "constant"
    ] >= 0.9 * n_batches * ranks.world:  # every rank decides alike
        raise _dead(cfg, epoch, f"in {int(sums['constant'])} of {n_batches * ranks.world} batches")
    lr = r.opt.param_groups[0]["lr"]
    r.sched.step()
    test = lambda net, split: _test_accuracy(net, split, r.enc, ranks, r.dev)  # noqa: E731
    row = dict(
        epoch=epoch + 1,
        lr=lr,
        seconds=round(seconds, 3),
        images_per_s=round(n_train / seconds, 2),
        compressed=base.compressed,
        train_loss=sums["loss"] / n_train,
        ce_base=sums["ce_base"] / n_train,
        ce_twin=_nan_none(sums["ce_twin"] / n_train),
        match=_nan_none(sums["match"] / n_train),
        train_acc_base=100.0 * sums["correct_base"] / n_train,
        train_acc_twin=100.0 * sums["correct_twin"] / n_train if twins else None,
        test_acc_base=test(base, r.test_set),
        test_acc_twin=test(twins[0], r.test_set) if twins else None,
        engine=r.engine,
        device=str(r.dev),
        processes=ranks.world,
    )
    if r.val_set is not None:
        row.update(
            val_acc_base=test(base, r.val_set),
            val_acc_twin=test(twins[0], r.val_set) if twins else None,
        )
    return row


def _state(r: _Run, epoch: int) -> dict:
    """The checkpoint of a finished epoch: everything a resumed run needs to end where this one will."""
    return dict(
        config=r.cfg.to_dict(),
        meta=r.meta.to_dict(),
        epoch=epoch + 1,
        compressed=r.base.compressed,
        base=r.base.state_dict(),
        twins=[t.state_dict() for t in r.twins],
        optimizer=r.opt.state_dict(),
        scheduler=r.sched.state_dict(),
        rng=torch.get_rng_state(),
        cuda_rng=torch.cuda.get_rng_state(r.dev) if r.dev.type == "cuda" else None,
        history=r.history,
    )


def _sharing(dev) -> int:
    """Ranks that share this device's memory (torchrun's processes on one machine's CPU)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if dev.type == "cpu" else 1


def _save_epoch(run_dir: str, history: list, state: dict) -> None:
    """Checkpoint, metrics and plot of a finished epoch; a disk that fails them (full, read-only,
    removed) is one line naming the last epoch that is saved."""
    from .plot import plot_history

    try:
        save_checkpoint(os.path.join(run_dir, CHECKPOINT), state)
        write_jsonl(os.path.join(run_dir, METRICS), history)
        plot_history(history, os.path.join(run_dir, "curves.png"))
    except OSError as e:
        raise CheckpointError(
            f"--out {run_dir}: could not save epoch {len(history)} ({e.strerror or type(e).__name__}); "
            f"the last saved epoch is still there: free some space and re-run with --resume"
        ) from None


DEAD_BATCHES = 20  # batches in a row with input-independent logits before a run is called dead


def _dead(cfg: TrainConfig, epoch: int, how: str) -> TrainingDiverged:
    """A network whose output no longer depends on its input (no neuron fires, or every one does) cannot
    learn again; say so instead of training it to the end at chance."""
    return TrainingDiverged(
        f"the base network's output stopped depending on its input in epoch {epoch + 1}: every sample got the "
        f"same logits {how} (no neuron fires, or all do), so it cannot learn; lower --lr (now {cfg.lr:g})"
    )


def _test_accuracy(net, test_set, enc, ranks, dev) -> float:
    """Top-1 accuracy (%) on ``test_set`` (the test or validation split), each rank scoring its share."""
    mine = ranks.share(len(test_set.y))
    correct = correct_count(net, test_set.x[mine], test_set.y[mine].to(dev), enc)
    return 100.0 * distributed.all_sum([correct], ranks, dev)[0] / len(test_set.y)


def _nan_none(v: float):
    return None if v != v else v
