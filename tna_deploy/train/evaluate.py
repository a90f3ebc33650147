"""Evaluate a run: test accuracy of base and twin(s), and the weight values each base layer holds."""

from __future__ import annotations

import dataclasses
from typing import Optional

from ..data.datasets import load_split
from ..data.encode import encode
from ..quant.quantizers import weight_levels
from .runs import accuracy, load_run


def layer_weight_table(net) -> list[dict]:
    """Per weighted layer: its mode, number of distinct integer values (x64) and each value's share."""
    rows = []
    for i, (info, q) in enumerate(zip(net.info, net.quantizers)):
        if q is None:
            continue
        w = net.quantized_weight(i)
        levels = weight_levels(w)
        rows.append(
            dict(
                layer=info.name,
                role=info.role,
                mode=q.mode,
                n_weights=int(w.numel()),
                distinct=len(levels),
                shares=levels if len(levels) <= 5 else None,
                zero_share=levels.get(0.0, 0.0),
            )
        )
    return rows


def evaluate_run(
    run_dir: str, limit_test: Optional[int] = None, data_dir: Optional[str] = None
) -> dict:
    run = load_run(run_dir)
    cfg = dataclasses.replace(
        run.cfg,
        limit_test=limit_test if limit_test else run.cfg.limit_test,
        data_dir=data_dir or run.cfg.data_dir,
    )
    test = load_split(cfg, "test")
    enc = lambda xb: encode(xb, cfg.timesteps, cfg.input_bits, run.meta.event_data)  # noqa: E731
    return dict(
        run_dir=run_dir,
        epoch=run.epoch,
        samples=len(test),
        compressed=run.base.compressed,
        test_acc_base=accuracy(run.base, test.x, test.y, enc),
        test_acc_twins=[accuracy(t, test.x, test.y, enc) for t in run.twins],
        base_layers=layer_weight_table(run.base),
        twin_layers=layer_weight_table(run.twins[0]) if run.twins else [],
    )
