"""The training methods, in one registry: ``train --method`` (its choices and help), the config's
checks and the loop read it. Import-light (no torch): the CLI reads it at startup."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    help: str
    needs_teacher: bool = False  # distils from a frozen, trained run (--teacher)
    has_twins: bool = False  # trains full-precision twins beside the base (--twins)


METHODS: dict[str, Method] = {
    "single": Method("the base alone, cross-entropy"),
    "tna": Method(
        "the base with full-precision twins, cross-entropy plus logit matching (Eq. 5)",
        has_twins=True,
    ),
    "kd": Method("knowledge distillation from --teacher", needs_teacher=True),
    "kd-ce": Method(
        "distillation from --teacher with cross-entropy plus logit matching", needs_teacher=True
    ),
}


def teacher_methods() -> tuple[str, ...]:
    return tuple(k for k, m in METHODS.items() if m.needs_teacher)
