import math

import torch

from tna_deploy.train.losses import kd_ce_loss, kd_loss, single_loss, tna_loss


def _ce(logits, target):
    return sum(
        -math.log(math.exp(row[t]) / sum(math.exp(v) for v in row))
        for row, t in zip(logits, target)
    ) / len(target)


def test_tna_loss_by_hand():
    b = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    t = [[0.5, 2.5, 0.0], [1.0, -1.0, 2.0]]
    y = [1, 2]
    alpha = 0.3
    mse = sum((p - q) ** 2 for rb, rt in zip(b, t) for p, q in zip(rb, rt)) / 6
    expected = _ce(b, y) + _ce(t, y) + alpha * mse
    parts = tna_loss(torch.tensor(b), [torch.tensor(t)], torch.tensor(y), alpha)
    assert abs(float(parts.total) - expected) < 1e-5
    assert abs(parts.match - mse) < 1e-6


def test_tna_with_two_twins_adds_a_ce_and_a_matching_term():
    torch.manual_seed(0)
    b, t1, t2 = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 5)
    y = torch.tensor([0, 1, 2, 3])
    two = tna_loss(b, [t1, t2], y, 0.5).total
    f = torch.nn.functional
    expected = (
        f.cross_entropy(b, y)
        + f.cross_entropy(t1, y)
        + f.cross_entropy(t2, y)
        + 0.5 * (f.mse_loss(b, t1) + f.mse_loss(b, t2))
    )
    assert torch.allclose(two, expected)


def test_matching_gradient_reaches_both_networks():
    b = torch.randn(2, 3, requires_grad=True)
    t = torch.randn(2, 3, requires_grad=True)
    tna_loss(b, [t], torch.tensor([0, 1]), 1.0).total.backward()
    assert b.grad.abs().sum() > 0 and t.grad.abs().sum() > 0


def test_kd_variants_keep_teacher_frozen():
    b = torch.randn(2, 3, requires_grad=True)
    teacher = torch.randn(2, 3, requires_grad=True)
    y = torch.tensor([0, 2])
    kd = kd_loss(b, teacher, y)
    assert torch.allclose(kd.total, ((b - teacher) ** 2).mean())
    kdce = kd_ce_loss(b, teacher, y, 1e-2)
    assert torch.allclose(
        kdce.total, torch.nn.functional.cross_entropy(b, y) + 1e-2 * ((b - teacher) ** 2).mean()
    )
    (kd.total + kdce.total).backward()
    assert teacher.grad is None
    assert math.isnan(single_loss(b, y).match)
