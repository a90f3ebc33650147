"""The paper's comparisons on real Fashion-MNIST, at a budget 2 CPU cores afford: one resumable driver.

    .venv/bin/python benchmarks/accuracy/study.py run        # trains what is missing; restart it any time
    .venv/bin/python benchmarks/accuracy/study.py status     # which runs are done
    .venv/bin/python benchmarks/accuracy/study.py summarize  # results/: runs.json, table.md, stats, plot

Every run is ``tna-deploy train`` on the full 60,000 / 10,000 split with the same architecture, epochs,
schedule and compression epoch; only the method, the middle layers' weights and the seed differ.
A run killed at any point continues where it stopped (``train --resume``); a finished run is skipped.
After the grid, a quick alpha sweep (TNA ternary, seed 0) trains on the first 50,000 training images and
chooses alpha on the last 10,000 (``train --val-split``), never on the test set; a follow-up then trains
TNA ternary at the sweep's best alpha (TUNED_ALPHA) on the full split for 3 seeds, paired with single ternary.
Each compressed (ternary / binary) base of the grid is then exported to netx and its whole test set run through the
emulator with PyTorch parity, and ``report`` gives its synaptic operations per inference.
Logs go to benchmarks/accuracy/logs/, per-run results to benchmarks/accuracy/results/runs/ (committed);
checkpoints, netx files and simulation folders to benchmarks/accuracy/work/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORK = os.path.join(HERE, "work")
LOGS = os.path.join(HERE, "logs")
RESULTS = os.path.join(HERE, "results")
TNA = os.path.join(ROOT, ".venv", "bin", "tna-deploy")

# The budget every run shares. The `small` recipe (32C3-AP2-64C3-AP2-128FC, models/small.arch) at full width:
# CIFARNet even at 1/8 width trains base + twin at about 210 img/s here, so 4 epochs of 60,000 images
# would take about 20 minutes a run and the grid (17 runs) most of a day; `small` runs about twice as fast
# and is a network a Loihi 2 chip holds several times over.
BUDGET = dict(
    dataset="fashion-mnist",
    arch="small",
    width=1.0,
    epochs=4,
    batch_size=64,
    lr=0.002,
    lr_gamma=0.7,
    augment=False,
    timesteps=5,
)
QUANTIZE_EPOCH = 2  # the paper's 60 % of the epochs (150 of 250), rounded: 2 of 4
SEEDS = (0, 1, 2)

# name -> (method, weights, twins, teacher run or None, seeds); the paper's alphas (Fashion-MNIST 1e-4; kd-ce 1e-5)
CORE = {
    "single-fp": ("single", "fp", 1, None, SEEDS),
    "tna-fp": ("tna", "fp", 1, None, SEEDS),
    "single-ternary": ("single", "ternary", 1, None, SEEDS),
    "tna-ternary": ("tna", "ternary", 1, None, SEEDS),
}
SECONDARY = {
    "single-binary": ("single", "binary", 1, None, (0,)),
    "tna-binary": ("tna", "binary", 1, None, (0,)),
    "kd-ternary": ("kd", "ternary", 1, "single-fp-s0", (0,)),
    "kdce-ternary": ("kd-ce", "ternary", 1, "single-fp-s0", (0,)),
    "tna2-ternary": ("tna", "ternary", 2, None, (0,)),
}
GRID = {**CORE, **SECONDARY}
# The quick alpha sweep: TNA ternary, seed 0, the same budget, trained on the first 50,000 training images and
# scored on the last 10,000 (validation), never on the test set. Alpha 1e-4 is the paper's pick for Fashion-MNIST.
VAL_SPLIT = 10_000
SWEEP_ALPHAS = (
    1e-4,
    1e-1,
    1e-2,
    1.0,
    1e-3,
)  # the most informative first, in case the sweep is cut short
SWEEP = {
    f"sweep-a{a:g}": ("tna", "ternary", 1, None, (0,), dict(alpha=a, val_split=VAL_SPLIT))
    for a in SWEEP_ALPHAS
}
# Follow-up: TNA ternary at the sweep's best alpha on the full split, 3 seeds, paired with single ternary.
TUNED_ALPHA = 0.1
FOLLOWUP = {
    f"tna-ternary-a{TUNED_ALPHA:g}": ("tna", "ternary", 1, None, SEEDS, dict(alpha=TUNED_ALPHA))
}
TABLE = {**GRID, **FOLLOWUP}  # the groups of the accuracy table
PAPER_FMNIST = {
    "single-fp": 94.90,
    "tna-fp": 95.31,
    "single-binary": 94.80,
    "single-ternary": 94.95,
    "tna-ternary": 95.24,
}


def runs() -> list[tuple[str, str, tuple]]:
    """(run name, method group, spec) in the order they are trained (teachers first)."""
    out = []
    for group, spec in {**GRID, **SWEEP, **FOLLOWUP}.items():
        for seed in spec[4]:
            out.append((f"{group}-s{seed}", group, spec))
    return out


def train_flags(name: str, spec: tuple, seed: int) -> list[str]:
    method, weights, twins, teacher, _, *extra = spec
    flags = [
        "--dataset",
        BUDGET["dataset"],
        "--arch",
        BUDGET["arch"],
        "--width",
        str(BUDGET["width"]),
        "--epochs",
        str(BUDGET["epochs"]),
        "--batch-size",
        str(BUDGET["batch_size"]),
        "--lr",
        str(BUDGET["lr"]),
        "--lr-gamma",
        str(BUDGET["lr_gamma"]),
        "--timesteps",
        str(BUDGET["timesteps"]),
        "--no-augment" if not BUDGET["augment"] else "--augment",
        "--method",
        method,
        "--weights",
        weights,
        "--seed",
        str(seed),
    ]
    if method == "tna":
        flags += ["--twins", str(twins)]
    if weights != "fp":
        flags += ["--quantize-epoch", str(QUANTIZE_EPOCH)]
    if teacher:
        flags += ["--teacher", os.path.join(WORK, teacher)]
    for key, value in (extra[0] if extra else {}).items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags + ["--out", os.path.join(WORK, name)]


def _finished_epochs(run_dir: str) -> int:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def _sh(cmd: list[str], log) -> None:
    log.write(f"$ {' '.join(cmd).replace(ROOT + os.sep, '')}\n")
    log.flush()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"study: {cmd[1]} failed ({proc.returncode}); see {log.name}")


def deploy(name: str, log) -> dict:
    """Export the compressed base, run the whole test set in the emulator with parity, and report."""
    from tna_deploy.report import read as read_report  # report.json's one reader

    run_dir = os.path.join(WORK, name)
    net, sim, rep = (
        os.path.join(WORK, f"{name}.net"),
        os.path.join(WORK, f"{name}-sim"),
        os.path.join(WORK, f"{name}-report"),
    )
    _sh([TNA, "export", run_dir, "--format", "netx", "--out", net], log)
    _sh([TNA, "simulate", net, "--samples", "all", "--run", run_dir, "--out", sim], log)
    _sh([TNA, "report", sim, "--netx", net, "--out", rep, "--format", "json"], log)
    with open(os.path.join(sim, "results.json")) as f:
        sim_res = json.load(f)
    report = read_report(os.path.join(rep, "report.json"))
    chip = report.chip
    par = sim_res.get("parity", {})
    return dict(
        chip_backend=chip,
        chip_accuracy=sim_res[chip]["accuracy"],
        torch_accuracy=sim_res["torch"]["accuracy"],
        samples=sim_res["samples"],
        logits_equal=par.get("logits_equal"),
        spikes_equal=par.get("spikes_equal"),
        prediction_agreement_pct=par.get("prediction_agreement_pct"),
        synops_per_inference=report.totals[chip].synops_per_inference_mean,
        synops_dense_per_inference=report.totals[chip].synops_dense_per_inference,
    )


def _train(name: str, spec: tuple, seed: int, log) -> None:
    """Train (or resume) a run until it has every epoch; a finished run is left alone."""
    run_dir = os.path.join(WORK, name)
    if _finished_epochs(run_dir) >= BUDGET["epochs"] and os.path.isfile(
        os.path.join(run_dir, "checkpoint.pt")
    ):
        return
    print(f"study: training {name}", file=sys.stderr, flush=True)
    resume = ["--resume"] if os.path.isfile(os.path.join(run_dir, "config.json")) else []
    _sh([TNA, "train", *train_flags(name, spec, seed), *resume], log)


def run_all(only: list[str]) -> None:
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(LOGS, exist_ok=True)
    os.makedirs(os.path.join(RESULTS, "runs"), exist_ok=True)
    for name, group, spec in runs():
        if only and name not in only and group not in only:
            continue
        out = os.path.join(RESULTS, "runs", f"{name}.json")
        if os.path.isfile(out):
            continue
        seed = int(name.rsplit("-s", 1)[1])
        run_dir = os.path.join(WORK, name)
        t0 = time.time()
        with open(os.path.join(LOGS, f"{name}.log"), "a") as log:
            teacher = spec[3]
            if (
                teacher
            ):  # a teacher's result may be committed while its checkpoint (in work/) is not here
                _train(
                    teacher, GRID[teacher.rsplit("-s", 1)[0]], int(teacher.rsplit("-s", 1)[1]), log
                )
            _train(name, spec, seed, log)
            with open(os.path.join(run_dir, "metrics.jsonl")) as f:
                history = [json.loads(line) for line in f if line.strip()]
            with open(os.path.join(run_dir, "config.json")) as f:
                config = json.load(f)
            result = dict(
                name=name,
                group=group,
                seed=seed,
                config=config,
                history=history,
                test_acc_base=history[-1]["test_acc_base"],
                test_acc_twin=history[-1]["test_acc_twin"],
                train_seconds=round(sum(r["seconds"] for r in history), 1),
            )
            if "val_split" in (spec[5] if len(spec) > 5 else {}):
                result.update(
                    val_acc_base=history[-1]["val_acc_base"],
                    val_acc_twin=history[-1]["val_acc_twin"],
                )
            elif spec[1] != "fp":
                print(f"study: deploying {name}", file=sys.stderr, flush=True)
                result["deployed"] = deploy(name, log)
            result["wall_seconds_this_session"] = round(time.time() - t0, 1)
        tmp = out + ".tmp"
        with open(tmp, "w") as f:  # paths relative to the repository, not to this machine
            f.write(json.dumps(result, indent=1).replace(ROOT + os.sep, ""))
        os.replace(tmp, out)
        print(
            f"study: {name} done: base {result['test_acc_base']:.2f}%", file=sys.stderr, flush=True
        )


def load_results() -> dict:
    res = {}
    folder = os.path.join(RESULTS, "runs")
    for fn in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if fn.endswith(".json"):
            with open(os.path.join(folder, fn)) as f:
                r = json.load(f)
            res[r["name"]] = r
    return res


def _mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    s = (
        math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
        if len(values) > 1
        else float("nan")
    )
    return m, s


def paired(res: dict, a: str, b: str) -> dict:
    """TNA vs single on the same seeds: mean difference, its 95 % t interval and the paired t-test p-value."""
    seeds = [s for s in SEEDS if f"{a}-s{s}" in res and f"{b}-s{s}" in res]
    d = [res[f"{a}-s{s}"]["test_acc_base"] - res[f"{b}-s{s}"]["test_acc_base"] for s in seeds]
    if len(d) < 2:
        return dict(a=a, b=b, seeds=seeds, differences=d)
    from scipy import stats

    m, s = _mean_std(d)
    half = stats.t.ppf(0.975, len(d) - 1) * s / math.sqrt(len(d))
    t = stats.ttest_rel(
        [res[f"{a}-s{x}"]["test_acc_base"] for x in seeds],
        [res[f"{b}-s{x}"]["test_acc_base"] for x in seeds],
    )
    return dict(
        a=a,
        b=b,
        seeds=seeds,
        differences=d,
        mean=m,
        ci95=[m - half, m + half],
        p_value=float(t.pvalue),
    )


def summarize() -> None:
    res = load_results()
    rows = []
    for group in TABLE:
        members = [r for r in res.values() if r["group"] == group]
        if not members:
            continue
        m, s = _mean_std([r["test_acc_base"] for r in members])
        dep = [r["deployed"] for r in members if "deployed" in r]
        rows.append(
            dict(
                group=group,
                runs=len(members),
                expected=len(TABLE[group][4]),
                mean=m,
                std=s,
                paper=PAPER_FMNIST.get(group),
                chip_accuracy=_mean_std([d["chip_accuracy"] for d in dep])[0] if dep else None,
                chip_equals_torch=all(
                    d["chip_accuracy"] == d["torch_accuracy"] and d["logits_equal"] for d in dep
                )
                if dep
                else None,
                synops=_mean_std([d["synops_per_inference"] for d in dep])[0] if dep else None,
                train_minutes=_mean_std([r["train_seconds"] / 60 for r in members])[0],
            )
        )
    tests = [
        paired(res, "tna-fp", "single-fp"),
        paired(res, "tna-ternary", "single-ternary"),
        *(paired(res, group, "single-ternary") for group in FOLLOWUP),
    ]
    summary = dict(
        budget=BUDGET,
        quantize_epoch=QUANTIZE_EPOCH,
        rows=rows,
        paired=tests,
        complete=all(f"{g}-s{s}" in res for g, spec in GRID.items() for s in spec[4]),
        followup_complete=all(f"{g}-s{s}" in res for g, spec in FOLLOWUP.items() for s in spec[4]),
        sweep=sweep_rows(res),
    )
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(RESULTS, "table.md"), "w") as f:
        f.write(table(summary))
    plot(res, summary)
    readme_table(table(summary))
    print(table(summary))


def sweep_rows(res: dict) -> dict:
    """The alpha sweep, chosen on validation accuracy of the base (last epoch); test accuracy shown, not used."""
    rows = []
    for group, spec in SWEEP.items():
        r = res.get(f"{group}-s0")
        if r is not None:
            rows.append(
                dict(
                    alpha=spec[5]["alpha"],
                    val_acc_base=r["val_acc_base"],
                    val_acc_twin=r["val_acc_twin"],
                    test_acc_base=r["test_acc_base"],
                    train_minutes=r["train_seconds"] / 60,
                )
            )
    rows.sort(key=lambda r: r["alpha"])
    best = max(rows, key=lambda r: r["val_acc_base"]) if rows else None
    return dict(
        val_split=VAL_SPLIT,
        rows=rows,
        complete=len(rows) == len(SWEEP),
        best_alpha=best["alpha"] if best else None,
    )


START, END = (
    "<!-- accuracy table: written by benchmarks/accuracy/study.py summarize -->",
    "<!-- end accuracy table -->",
)


def readme_table(text: str) -> None:
    """Replace the accuracy table (between the two markers) in the README and in docs/accuracy.md."""
    for rel in ("README.md", os.path.join("docs", "accuracy.md")):
        path = os.path.join(ROOT, rel)
        with open(path) as f:
            readme = f.read()
        if START not in readme or END not in readme:
            print(
                f"study: {rel} has no {START} ... {END} block; the table is in results/table.md",
                file=sys.stderr,
            )
            continue
        head, rest = readme.split(START, 1)
        tail = rest.split(END, 1)[1]
        with open(path + ".tmp", "w") as f:
            f.write(f"{head}{START}\n{text}{END}{tail}")
        os.replace(path + ".tmp", path)


def table(summary: dict) -> str:
    lines = [
        "| method | runs | test accuracy of the base, mean +- std (%) | paper (CIFARNet, 250 epochs) | "
        "chip model (emulator, whole test set) | synaptic ops / inference | train minutes / run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        std = "" if r["std"] != r["std"] else f" +- {r['std']:.2f}"
        chip = (
            ""
            if r["chip_accuracy"] is None
            else (
                f"{r['chip_accuracy']:.2f}"
                + (" (= PyTorch, logits equal)" if r["chip_equals_torch"] else " (DIFFERS)")
            )
        )
        syn = "" if r["synops"] is None else f"{r['synops'] / 1e6:.2f} M"
        paper = "" if r["paper"] is None else f"{r['paper']:.2f}"
        lines.append(
            f"| {r['group']} | {r['runs']}/{r['expected']} | {r['mean']:.2f}{std} | {paper} | {chip} | {syn} | "
            f"{r['train_minutes']:.1f} |"
        )
    lines.append("")
    for t in summary["paired"]:
        if "p_value" in t:
            lines.append(
                f"- {t['a']} - {t['b']} (paired over seeds {t['seeds']}): {t['mean']:+.2f} points, 95 % CI "
                f"[{t['ci95'][0]:+.2f}, {t['ci95'][1]:+.2f}], paired t-test p = {t['p_value']:.3f}"
            )
        else:
            lines.append(f"- {t['a']} - {t['b']}: not enough paired seeds yet ({t['seeds']})")
    if not summary["complete"]:
        lines.append("- the grid is not complete yet: `study.py run` continues it")
    elif not summary.get("followup_complete", True):
        lines.append(
            f"- the follow-up at alpha {TUNED_ALPHA:g} is not complete yet: `study.py run` continues it"
        )
    sweep = summary.get("sweep") or {}
    if sweep.get("rows"):
        lines += [
            "",
            f"Alpha sweep (TNA ternary, seed 0, trained on the first {60_000 - sweep['val_split']:,} training "
            f"images, chosen on the last {sweep['val_split']:,}; the paper's alpha for Fashion-MNIST is 1e-4):",
            "",
            "| alpha | val accuracy, base (%) | val accuracy, twin (%) | test accuracy, base (%), not used to choose |",
            "|---|---|---|---|",
        ]
        for r in sweep["rows"]:
            mark = " (best)" if r["alpha"] == sweep["best_alpha"] else ""
            lines.append(
                f"| {r['alpha']:g}{mark} | {r['val_acc_base']:.2f} | {r['val_acc_twin']:.2f} | "
                f"{r['test_acc_base']:.2f} |"
            )
        if not sweep["complete"]:
            lines.append(
                f"\n- the sweep is not complete yet ({len(sweep['rows'])} of {len(SWEEP)} alphas)"
            )
    return "\n".join(lines) + "\n"


def plot(res: dict, summary: dict) -> None:
    """results/accuracy.png (methods, the paper's Fig. 3 style) and results/alpha_sweep.png (Fig. 2 style)."""
    from plots import methods_figure, sweep_figure

    grid = {k: v for k, v in res.items() if v["group"] in TABLE}
    methods_figure(
        grid,
        summary["rows"],
        f"Fashion-MNIST, {BUDGET['arch']} x{BUDGET['width']:g}, "
        f"{BUDGET['epochs']} epochs, T={BUDGET['timesteps']}",
        os.path.join(RESULTS, "accuracy.png"),
    )
    sweep_figure(
        [(SWEEP[g][5]["alpha"], res[f"{g}-s0"]) for g in SWEEP if f"{g}-s0" in res],
        os.path.join(RESULTS, "alpha_sweep.png"),
    )


def status() -> None:
    res = load_results()
    for name, _, _ in runs():
        state = (
            "done"
            if name in res
            else f"{_finished_epochs(os.path.join(WORK, name))}/{BUDGET['epochs']} epochs"
        )
        print(f"{name:<22} {state}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["run", "status", "summarize"])
    ap.add_argument("--only", nargs="*", default=[], help="run names or method groups")
    a = ap.parse_args()
    {"run": lambda: run_all(a.only), "status": status, "summarize": summarize}[a.what]()


if __name__ == "__main__":
    main()
