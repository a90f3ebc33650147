"""The training objectives.

tna    Eq. 5: CE(base) + sum_i CE(twin_i) + alpha * sum_i MSE(logits_base, logits_twin_i)
single CE(base)
kd     MSE(logits_base, logits_teacher), the teacher frozen (pure distillation, no labels)
kd-ce  CE(base) + alpha * MSE(logits_base, logits_teacher), the teacher frozen
MSE is the mean over batch and classes of the squared difference of the logits (summed over time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F


@dataclass
class LossParts:
    total: torch.Tensor
    ce_base: float
    ce_twin: float  # mean over twins; nan without twins
    match: float  # mean logit-matching MSE over twins / to the teacher; nan if none


def tna_loss(
    base: torch.Tensor, twins: Sequence[torch.Tensor], target: torch.Tensor, alpha: float
) -> LossParts:
    ce_b = F.cross_entropy(base, target)
    ce_t = [F.cross_entropy(t, target) for t in twins]
    mse = [F.mse_loss(base, t) for t in twins]
    total = ce_b + sum(ce_t) + alpha * sum(mse)
    return LossParts(total, float(ce_b), _mean(ce_t), _mean(mse))


def single_loss(base: torch.Tensor, target: torch.Tensor) -> LossParts:
    ce_b = F.cross_entropy(base, target)
    return LossParts(ce_b, float(ce_b), float("nan"), float("nan"))


def kd_loss(base: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor) -> LossParts:
    mse = F.mse_loss(base, teacher.detach())
    with torch.no_grad():
        ce_b = F.cross_entropy(base, target)
    return LossParts(mse, float(ce_b), float("nan"), float(mse))


def kd_ce_loss(
    base: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, alpha: float
) -> LossParts:
    ce_b = F.cross_entropy(base, target)
    mse = F.mse_loss(base, teacher.detach())
    return LossParts(ce_b + alpha * mse, float(ce_b), float("nan"), float(mse))


def _mean(values: Sequence[torch.Tensor]) -> float:
    return float(sum(float(v) for v in values) / len(values)) if values else float("nan")
