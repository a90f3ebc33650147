"""Rebuild the networks of a run directory from its checkpoint alone (no flags needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..errors import CheckpointError, TnaError
from ..models.network import SpikingNet, build_network
from .checkpoint import CHECKPOINT, load_checkpoint, load_state
from .config import TrainConfig


@dataclass
class ModelMeta:
    in_shape: tuple[int, int, int]
    n_classes: int
    input_scale: float
    event_data: bool

    def to_dict(self) -> dict:
        return dict(
            in_shape=list(self.in_shape),
            n_classes=self.n_classes,
            input_scale=self.input_scale,
            event_data=self.event_data,
        )

    @classmethod
    def from_dict(cls, d: dict) -> "ModelMeta":
        return cls(
            tuple(int(v) for v in d["in_shape"]),
            int(d["n_classes"]),
            float(d["input_scale"]),
            bool(d["event_data"]),
        )


@dataclass
class LoadedRun:
    run_dir: str
    cfg: TrainConfig
    meta: ModelMeta
    base: SpikingNet
    twins: list[SpikingNet] = field(default_factory=list)
    epoch: int = 0
    history: list = field(default_factory=list)


def make_networks(cfg: TrainConfig, meta: ModelMeta) -> tuple[SpikingNet, list[SpikingNet]]:
    """Base, then each twin, in a fixed order: with the same seed the same inits come out."""
    base = build_network(cfg, meta.in_shape, meta.n_classes, meta.input_scale, role="base")
    twins = [
        build_network(cfg, meta.in_shape, meta.n_classes, meta.input_scale, role="twin")
        for _ in range(cfg.n_twins)
    ]
    return base, twins


def load_run(run_dir: str, with_twins: bool = True) -> LoadedRun:
    """The trained networks of ``run_dir`` in eval mode, compression state as at the last epoch."""
    path = os.path.join(run_dir, CHECKPOINT)
    ckpt = load_checkpoint(path)  # every field checked: the config and meta below are valid
    cfg = TrainConfig.from_dict(ckpt["config"])
    meta = ModelMeta.from_dict(ckpt["meta"])
    try:
        base, twins = make_networks(cfg, meta)
    except TnaError as e:  # e.g. a pool the saved input shape cannot take
        raise CheckpointError(
            f"{path}: fields config and meta describe no network that can be built ({e}); "
            f"re-train, or restore a good copy"
        ) from None
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: the network of its config cannot be built ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:100]})"
        ) from None
    load_state(base, ckpt["base"], path, "base")
    if with_twins:
        if len(ckpt["twins"]) != len(twins):
            raise CheckpointError(
                f"{path}: field twins holds {len(ckpt['twins'])} networks, expected {len(twins)} "
                f"(the config's twins); re-train, or restore a good copy"
            )
        for i, (net, state) in enumerate(zip(twins, ckpt["twins"])):
            load_state(net, state, path, f"twins[{i}]")
    base.set_compression(bool(ckpt.get("compressed", False)))
    for net in [base] + twins:
        net.eval()
    return LoadedRun(
        run_dir,
        cfg,
        meta,
        base,
        twins if with_twins else [],
        int(ckpt["epoch"]),
        list(ckpt.get("history", [])),
    )


def load_teacher(run_dir: Optional[str], meta: ModelMeta) -> Optional[SpikingNet]:
    """The frozen base network of another run, for kd / kd-ce."""
    if not run_dir:
        return None
    run = load_run(run_dir, with_twins=False)
    if run.meta.n_classes != meta.n_classes or run.meta.in_shape != meta.in_shape:
        raise CheckpointError(
            f"--teacher {run_dir} was trained on inputs {run.meta.in_shape} with "
            f"{run.meta.n_classes} classes; this run needs {meta.in_shape} and {meta.n_classes}"
        )
    for p in run.base.parameters():
        p.requires_grad_(False)
    return run.base


@torch.no_grad()
def correct_count(
    net: SpikingNet, x: torch.Tensor, y: torch.Tensor, encode_fn, batch_size: int = 256
) -> int:
    """How many of the uint8 inputs ``x`` ``net`` classifies as ``y`` (``y`` on the network's device)."""
    was_training = net.training
    net.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        logits = net(encode_fn(x[i : i + batch_size]))
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
    net.train(was_training)
    return correct


def accuracy(
    net: SpikingNet, x: torch.Tensor, y: torch.Tensor, encode_fn, batch_size: int = 256
) -> float:
    """Top-1 accuracy (%) of ``net`` on uint8 inputs ``x``."""
    return 100.0 * correct_count(net, x, y, encode_fn, batch_size) / len(y)
