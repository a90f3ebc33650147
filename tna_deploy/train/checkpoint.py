"""Atomic checkpoint and sidecar files. Checkpoints hold only tensors and plain data, and are read
with ``torch.load(weights_only=True)``: a checkpoint cannot carry code."""
from __future__ import annotations

import json
import os
from typing import Optional

import torch

from ..atomic import atomic_write
from ..config import TrainConfig
from ..errors import CheckpointError, TnaError

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
FORMAT_VERSION = 1


def save_checkpoint(path: str, payload: dict) -> None:
    payload = dict(payload, format_version=FORMAT_VERSION)
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str) -> dict:
    """Load a checkpoint safely; any problem becomes a one-line CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no checkpoint here; train a run first (tna-deploy train --out ...)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage bytes, pickled code refused by weights_only
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: corrupt or not a tna-deploy checkpoint ({reason}); "
                              f"delete it and re-train, or resume from a good copy") from None
    if not isinstance(ckpt, dict) or "base" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{path}: not a tna-deploy checkpoint (missing base weights or config)")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {ckpt.get('format_version')} is not "
                              f"{FORMAT_VERSION}; re-train with this version of tna-deploy")
    return ckpt


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
        raise CheckpointError(f"{path}: unreadable ({type(e).__name__}); delete the run directory and "
                              f"train again") from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: not a tna-deploy run config (expected a JSON object)")
    saved = {k: v for k, v in saved.items() if k not in ("meta", "runtime")}
    try:
        TrainConfig.from_dict(saved)
    except (TnaError, TypeError) as e:
        raise CheckpointError(f"{path}: not a valid run config ({e}); delete the run directory and "
                              f"train again") from None
    return saved


def saved_config(run_dir: str) -> Optional[dict]:
    """The config a ``--resume`` of ``run_dir`` continues: the checkpoint's, else config.json's, else None."""
    ckpt = os.path.join(run_dir, CHECKPOINT)
    if os.path.exists(ckpt):
        return load_checkpoint(ckpt)["config"]
    return load_run_config(run_dir)
