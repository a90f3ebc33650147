"""The training methods, in one registry: ``train --method`` (its choices and help), the config's
checks and the loop read it. Each method carries its loss. Import-light (no torch): the CLI reads it
at startup, and a loss imports ``train/losses.py`` only when training calls it.

A loss is called as ``loss(base, twins, teacher, target, alpha)``: the base's logits, the twins'
(a list, empty without twins), the frozen teacher's (None unless the method ``needs_teacher``), the
labels and the resolved alpha. A new method is its loss in ``train/losses.py`` and one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


def _tna(base, twins, teacher, target, alpha):
    from .losses import tna_loss

    return tna_loss(base, twins, target, alpha)


def _single(base, twins, teacher, target, alpha):
    from .losses import single_loss

    return single_loss(base, target)


def _kd(base, twins, teacher, target, alpha):
    from .losses import kd_loss

    return kd_loss(base, teacher, target)


def _kd_ce(base, twins, teacher, target, alpha):
    from .losses import kd_ce_loss

    return kd_ce_loss(base, teacher, target, alpha)


@dataclass(frozen=True)
class Method:
    help: str
    needs_teacher: bool = False  # distils from a frozen, trained run (--teacher)
    has_twins: bool = False  # trains full-precision twins beside the base (--twins)
    loss: Optional[Callable] = None  # (base, twins, teacher, target, alpha) -> losses.LossParts


METHODS: dict[str, Method] = {
    "single": Method("the base alone, cross-entropy", loss=_single),
    "tna": Method(
        "the base with full-precision twins, cross-entropy plus logit matching (Eq. 5)",
        has_twins=True,
        loss=_tna,
    ),
    "kd": Method("knowledge distillation from --teacher", needs_teacher=True, loss=_kd),
    "kd-ce": Method(
        "distillation from --teacher with cross-entropy plus logit matching",
        needs_teacher=True,
        loss=_kd_ce,
    ),
}


def teacher_methods() -> tuple[str, ...]:
    return tuple(k for k, m in METHODS.items() if m.needs_teacher)
