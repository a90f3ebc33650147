"""Atomic checkpoint and sidecar files. Checkpoints hold only tensors and plain data, and are read
with ``torch.load(weights_only=True)``: a checkpoint cannot carry code."""

from __future__ import annotations

import json
import os
from typing import Optional

import torch

from ..atomic import atomic_write
from ..checks import is_int, is_num, shown
from ..errors import CheckpointError, TnaError, version_problem
from ..models.arch import parse_arch, scale_arch, weight_count
from .config import TrainConfig

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
FORMAT_VERSION = 1


def save_checkpoint(path: str, payload: dict) -> None:
    payload = dict(payload, format_version=FORMAT_VERSION)
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str, resume: bool = False) -> dict:
    """Load a checkpoint safely and check every field a reader uses (with ``resume``, also the optimizer,
    scheduler and random state); any problem becomes a one-line CheckpointError naming the field."""
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{path}: no checkpoint here; train a run first (tna-deploy train --out ...)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage bytes, pickled code refused by weights_only
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: corrupt or not a tna-deploy checkpoint ({reason}); "
            f"delete it and re-train, or resume from a good copy"
        ) from None
    if not isinstance(ckpt, dict) or "base" not in ckpt or "config" not in ckpt:
        raise CheckpointError(
            f"{path}: not a tna-deploy checkpoint (missing base weights or config)"
        )
    problem = version_problem(
        ckpt.get("format_version"),
        FORMAT_VERSION,
        "checkpoint format",
        "re-train with this version of tna-deploy",
    )
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    check_fields(ckpt, path, resume)
    return ckpt


def _bad(path: str, name: str, problem: str, expected: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: field {name} {problem}, expected {expected}; the checkpoint is damaged: "
        f"re-train, or restore a good copy"
    )


def _need(
    d: dict, path: str, name: str, ok, expected: str, optional: bool = False, prefix: str = ""
) -> None:
    if name not in d:
        if not optional:
            raise _bad(path, prefix + name, "is missing", expected)
        return
    if not ok(d[name]):
        raise _bad(path, prefix + name, f"is {shown(d[name])}", expected)


def _like(v, value) -> bool:
    """``v`` has the kind of ``value`` (a flag, a finite number, a list of such, a string)."""
    if value is None or isinstance(value, bool):
        return v is None or isinstance(v, bool)
    if is_num(value):
        return is_num(v)
    if isinstance(value, (list, tuple)):
        return isinstance(v, (list, tuple)) and len(v) == len(value) and all(map(_like, v, value))
    return isinstance(v, type(value))


def _state_dict(v) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items()
    )


HISTORY_KEYS = (
    "epoch",
    "ce_base",
    "train_acc_base",
    "test_acc_base",
)  # what the plot of a resumed run reads


def check_fields(ckpt: dict, path: str, resume: bool = False) -> None:
    """Every field of a checkpoint has the type its readers assume; the config and meta are valid."""
    _need(ckpt, path, "config", lambda v: isinstance(v, dict), "the run's config (an object)")
    try:
        TrainConfig.from_dict(ckpt["config"], where=f"{path}: config")
    except TnaError as e:
        raise CheckpointError(
            f"{e}; the checkpoint is damaged: re-train, or restore a good copy"
        ) from None
    _need(
        ckpt,
        path,
        "meta",
        lambda v: isinstance(v, dict),
        "an object with in_shape, n_classes, input_scale, event_data",
    )
    meta = ckpt["meta"]
    for key, ok, expected in (
        (
            "in_shape",
            lambda v: (
                isinstance(v, (list, tuple)) and len(v) == 3 and all(is_int(n) and n > 0 for n in v)
            ),
            "three positive integers (C, H, W)",
        ),
        ("n_classes", lambda v: is_int(v) and v > 1, "an integer > 1"),
        ("input_scale", lambda v: is_num(v) and v > 0, "a positive number"),
        ("event_data", lambda v: isinstance(v, bool), "true or false"),
    ):
        _need(meta, path, key, ok, expected, prefix="meta.")
    _need(ckpt, path, "base", _state_dict, "the base network's tensors (names to tensors)")
    _need(
        ckpt,
        path,
        "twins",
        lambda v: isinstance(v, list) and all(_state_dict(t) for t in v),
        "a list of the twins' tensors",
    )
    cfg = TrainConfig.from_dict(ckpt["config"])
    if len(ckpt["twins"]) != cfg.n_twins:
        raise _bad(
            path,
            "twins",
            f"holds {len(ckpt['twins'])} networks",
            f"{cfg.n_twins} (the config's twins)",
        )
    # the networks are built from the config before the tensors are loaded: it must describe these tensors
    # (a damaged width or class count must not make a reader allocate a network thousands of times larger)
    want = weight_count(
        scale_arch(parse_arch(cfg.arch), cfg.width), tuple(meta["in_shape"]), meta["n_classes"]
    )
    have = sum(t.numel() for t in ckpt["base"].values())
    if want > 2 * have + 1024:
        raise CheckpointError(
            f"{path}: field config describes a network of {want} weights, but field base holds "
            f"{have} numbers; the checkpoint is damaged: re-train, or restore a good copy"
        )
    _need(
        ckpt,
        path,
        "epoch",
        lambda v: is_int(v) and v >= 0,
        "the number of finished epochs (an integer >= 0)",
    )
    _need(ckpt, path, "compressed", lambda v: isinstance(v, bool), "true or false", optional=True)
    _need(
        ckpt,
        path,
        "history",
        lambda v: (
            isinstance(v, list)
            and all(isinstance(r, dict) and all(is_num(r.get(k)) for k in HISTORY_KEYS) for r in v)
        ),
        f"one row per finished epoch, each with numbers {', '.join(HISTORY_KEYS)}",
    )
    if len(ckpt["history"]) != ckpt["epoch"]:
        raise _bad(
            path,
            "history",
            f"has {len(ckpt['history'])} rows for {ckpt['epoch']} finished epochs",
            "one row per epoch",
        )
    if resume:
        _need(
            ckpt,
            path,
            "optimizer",
            lambda v: (
                isinstance(v, dict)
                and isinstance(v.get("state"), dict)
                and isinstance(v.get("param_groups"), list)
            ),
            "Adam's state (an object with state and param_groups)",
        )
        _need(
            ckpt,
            path,
            "scheduler",
            lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
            "the learning-rate schedule's state (an object)",
        )
        rng = torch.get_rng_state()
        _need(
            ckpt,
            path,
            "rng",
            lambda v: isinstance(v, torch.Tensor) and v.dtype == rng.dtype and v.shape == rng.shape,
            f"the random generator's state (a uint8 tensor of shape {tuple(rng.shape)})",
        )
        _need(
            ckpt,
            path,
            "cuda_rng",
            lambda v: v is None or (isinstance(v, torch.Tensor) and v.dtype == torch.uint8),
            "null or a uint8 tensor",
            optional=True,
        )


def load_state(net: torch.nn.Module, state: dict, path: str, name: str) -> None:
    """Load ``state`` into ``net`` after checking every tensor's name and shape against the network the config
    describes; a missing, extra or wrongly shaped tensor is a one-line CheckpointError naming it."""
    want = net.state_dict()
    for key, t in want.items():
        if key not in state:
            raise CheckpointError(
                f"{path}: tensor {name}[{key!r}] is missing (expected shape {tuple(t.shape)} for the "
                f"network its config describes); re-train, or restore a good copy"
            )
        got = state[key]
        if tuple(got.shape) != tuple(t.shape):
            raise CheckpointError(
                f"{path}: tensor {name}[{key!r}] has shape {tuple(got.shape)}, expected "
                f"{tuple(t.shape)} for the network its config describes; re-train, or restore a "
                f"good copy"
            )
        if got.is_complex() or (got.is_floating_point() and not bool(torch.isfinite(got).all())):
            raise CheckpointError(
                f"{path}: tensor {name}[{key!r}] holds NaN, infinite or complex values, expected "
                f"finite numbers; re-train, or restore a good copy"
            )
    extra = sorted(set(state) - set(want))
    if extra:
        raise CheckpointError(
            f"{path}: {name} holds tensor {extra[0]!r}, which the network its config describes does "
            f"not have; re-train, or restore a good copy"
        )
    net.load_state_dict(state)


def check_resume_meta(ckpt: dict, path: str, meta: dict) -> None:
    """The checkpoint was trained on inputs like the ones the data gives now (``meta``): check this before
    building networks for them, since the checked config described the checkpoint's own meta."""
    if ckpt["meta"] != meta:
        raise _bad(path, "meta", f"is {shown(ckpt['meta'])}", f"{meta} (what the run's data gives)")


def restore_training(ckpt: dict, path: str, base, twins: list, opt, sched, meta: dict) -> None:
    """``--resume``: networks, optimizer, schedule and random state from a checkpoint ``load_checkpoint(...,
    resume=True)`` checked; ``meta`` is what the data gives (the networks were built for it). Anything that
    does not fit is a CheckpointError."""
    check_resume_meta(ckpt, path, meta)
    load_state(base, ckpt["base"], path, "base")
    if len(ckpt["twins"]) != len(twins):
        raise _bad(
            path,
            "twins",
            f"holds {len(ckpt['twins'])} networks",
            f"{len(twins)} (the config's twins)",
        )
    for i, (net, state) in enumerate(zip(twins, ckpt["twins"])):
        load_state(net, state, path, f"twins[{i}]")
    _restore_optimizer(opt, ckpt["optimizer"], path)
    _restore_scheduler(sched, ckpt["scheduler"], path)
    try:
        torch.set_rng_state(ckpt["rng"])
    except RuntimeError as e:
        raise _bad(
            path, "rng", f"does not load ({str(e).splitlines()[0][:80]})", "a saved generator state"
        ) from None


def _restore_optimizer(opt, saved: dict, path: str) -> None:
    params = [p for g in opt.param_groups for p in g["params"]]
    sizes = [len(g["params"]) for g in opt.param_groups]
    groups = saved["param_groups"]
    got = [
        len(g["params"]) if isinstance(g, dict) and isinstance(g.get("params"), list) else None
        for g in groups
    ]
    if got != sizes:
        raise _bad(
            path,
            "optimizer",
            f"has parameter groups of sizes {got}",
            f"{sizes} for the networks of its config",
        )
    for g, mine in zip(groups, opt.param_groups):
        for key, value in mine.items():
            if key != "params":
                _need(
                    g,
                    path,
                    key,
                    lambda v, value=value: _like(v, value),
                    f"a value like {value!r}",
                    prefix="optimizer.param_groups.",
                )
    for key, state in saved["state"].items():
        if not is_int(key) or not 0 <= key < len(params):
            raise _bad(path, "optimizer.state", f"names parameter {key!r}", f"0..{len(params) - 1}")
        if not isinstance(state, dict):
            raise _bad(
                path, f"optimizer.state[{key}]", f"is {shown(state)}", "an object of tensors"
            )
        for name in ("exp_avg", "exp_avg_sq"):
            t = state.get(name)
            if (
                not isinstance(t, torch.Tensor)
                or t.shape != params[key].shape
                or not t.is_floating_point()
            ):
                raise _bad(
                    path,
                    f"optimizer.state[{key}].{name}",
                    "is missing" if t is None else f"is {shown(t)}",
                    f"a float tensor of shape {tuple(params[key].shape)}",
                )
        _need(
            state,
            path,
            "step",
            lambda v: (
                isinstance(v, torch.Tensor) and v.numel() == 1 and bool(torch.isfinite(v).all())
            ),
            "a one-element tensor (the steps taken)",
            prefix=f"optimizer.state[{key}].",
        )
    try:
        opt.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise _bad(
            path,
            "optimizer",
            f"does not load ({str(e).splitlines()[0][:80]})",
            "Adam's state for the networks of its config",
        ) from None


def _restore_scheduler(sched, saved: dict, path: str) -> None:
    mine = sched.state_dict()
    for key, v in saved.items():
        if (
            key not in mine
        ):  # load_state_dict sets every key as an attribute: only the schedule's own
            raise _bad(
                path, f"scheduler.{key}", "is not part of the schedule", f"only {', '.join(mine)}"
            )
        _need(
            saved,
            path,
            key,
            lambda v, value=mine[key]: _like(v, value),
            f"a value like {mine[key]!r}",
            prefix="scheduler.",
        )
    sched.load_state_dict(saved)


def load_run_config(run_dir: str) -> Optional[dict]:
    """The resolved config in ``run_dir/config.json`` (the training fields only), or None if there is none.

    It is written before the first epoch, so it is what a run stopped in its first epoch leaves."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{path}: unreadable ({type(e).__name__}); delete the run directory and train again"
        ) from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: not a tna-deploy run config (expected a JSON object)")
    saved = {k: v for k, v in saved.items() if k not in ("meta", "runtime")}
    try:
        TrainConfig.from_dict(saved, where=path)
    except TnaError as e:
        raise CheckpointError(f"{e}; delete the run directory and train again") from None
    return saved


def saved_config(run_dir: str) -> Optional[dict]:
    """The config a ``--resume`` of ``run_dir`` continues: the checkpoint's, else config.json's, else None."""
    ckpt = os.path.join(run_dir, CHECKPOINT)
    if os.path.exists(ckpt):
        return load_checkpoint(ckpt, resume=True)["config"]
    return load_run_config(run_dir)
