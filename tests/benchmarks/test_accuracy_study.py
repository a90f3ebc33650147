"""The accuracy study's driver: every run it would train is a valid `train` command on the shared budget,
and its statistics and alpha choice are computed from the right numbers (the test set never picks alpha)."""

import importlib.util
import os
import sys

import pytest

from tna_deploy import cli

STUDY = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "accuracy", "study.py")


@pytest.fixture(scope="module")
def study():
    sys.path.insert(0, os.path.dirname(STUDY))
    try:
        spec = importlib.util.spec_from_file_location("accuracy_study", STUDY)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(os.path.dirname(STUDY))


def _params(flags):
    return cli.train.make_context("train", list(flags)).params


def test_every_run_is_a_train_command_on_the_same_budget(study):
    shared = (
        "dataset",
        "arch",
        "width",
        "epochs",
        "batch_size",
        "lr",
        "lr_gamma",
        "timesteps",
        "augment",
    )
    seen = []
    for name, group, spec in study.runs():
        flags = study.train_flags(name, spec, int(name.rsplit("-s", 1)[1]))
        if "--teacher" in flags:  # the teacher is the single FP run of seed 0, trained first
            i = flags.index("--teacher")
            assert flags[i + 1].endswith(os.path.join("work", "single-fp-s0"))
            flags = flags[:i] + flags[i + 2 :]
        p = _params(flags)
        seen.append(name)
        assert {k: p[k] for k in shared} == {
            k: _params(study.train_flags("single-fp-s0", study.GRID["single-fp"], 0))[k]
            for k in shared
        }, name
        assert p["quantize_epoch"] == (None if spec[1] == "fp" else study.QUANTIZE_EPOCH)
        assert p["out"].endswith(os.path.join("work", name))
        if group in study.SWEEP:
            assert (
                p["val_split"] == study.VAL_SPLIT
                and p["alpha"] == spec[5]["alpha"]
                and p["method"] == "tna"
            )
        elif (
            group in study.FOLLOWUP
        ):  # the sweep's pick, on the full split, beside the paper's alpha
            assert (
                p["val_split"] is None
                and p["alpha"] == study.TUNED_ALPHA
                and p["weights"] == "ternary"
            )
        else:
            assert p["val_split"] is None and p["alpha"] is None  # the paper's alpha per method
    assert seen.index("single-fp-s0") < seen.index("kd-ternary-s0")
    groups = [group for _, group, _ in study.runs()]
    assert groups.count("tna-ternary") == groups.count("single-ternary") == 3
    n_grid = sum(g in study.GRID for g in groups)  # the grid first, then the sweep and follow-up
    assert all(g in study.GRID for g in groups[:n_grid])


def _run(group, seed, acc, **extra):
    return dict(name=f"{group}-s{seed}", group=group, seed=seed, test_acc_base=acc, **extra)


def test_paired_comparison_matches_scipy(study):
    pytest.importorskip("scipy", reason="scipy comes with Lava (3.10) or the train extra")
    from scipy import stats

    a, b = [88.0, 87.5, 87.9], [87.6, 87.7, 87.2]
    res = {
        r["name"]: r
        for r in [_run("tna-ternary", s, v) for s, v in enumerate(a)]
        + [_run("single-ternary", s, v) for s, v in enumerate(b)]
    }
    t = study.paired(res, "tna-ternary", "single-ternary")
    d = [x - y for x, y in zip(a, b)]
    assert t["mean"] == pytest.approx(sum(d) / 3) and t["p_value"] == pytest.approx(
        stats.ttest_rel(a, b).pvalue
    )
    lo, hi = stats.t.interval(0.95, 2, loc=sum(d) / 3, scale=stats.sem(d))
    assert t["ci95"] == pytest.approx([lo, hi])
    del res["single-ternary-s2"]
    assert study.paired(res, "tna-ternary", "single-ternary")["seeds"] == [0, 1]


def test_alpha_is_chosen_on_validation_not_test(study):
    groups = list(study.SWEEP)
    res = {}
    for i, g in enumerate(
        groups
    ):  # the last alpha has the best test accuracy, the second the best val
        res[f"{g}-s0"] = _run(
            g,
            0,
            80.0 + i,
            val_acc_base=90.0 if i == 1 else 85.0,
            val_acc_twin=86.0,
            train_seconds=60.0,
        )
    sweep = study.sweep_rows(res)
    assert sweep["complete"] and sweep["best_alpha"] == study.SWEEP[groups[1]][5]["alpha"]
    assert [r["alpha"] for r in sweep["rows"]] == sorted(study.SWEEP_ALPHAS)
    text = study.table(dict(rows=[], paired=[], complete=True, sweep=sweep))
    best = [line for line in text.splitlines() if "(best)" in line]
    assert len(best) == 1 and "| 90.00 |" in best[0]
