"""The study's figures, in the style of the paper's Fig. 2 (per-epoch curves for each alpha) and Fig. 3
(method comparison: final accuracy per method, and convergence curves)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

TNA_BLUE, SINGLE_GREY = "#4c72b0", "#999999"


def _epochs(run: dict) -> list[int]:
    return [r["epoch"] for r in run["history"]]


def methods_figure(res: dict, rows: list[dict], title: str, path: str) -> None:
    """(a) mean test accuracy of the base per method, each seed a dot; (b) its test accuracy per epoch,
    mean over seeds, with the compression epoch marked (Fig. 3 b)."""
    if not rows:
        return
    fig, (ax, cx) = plt.subplots(
        1,
        2,
        figsize=(1.1 * len(rows) + 7.5, 4.2),
        gridspec_kw=dict(width_ratios=[max(len(rows), 3), 4]),
    )
    colors = plt.cm.tab10.colors
    for i, r in enumerate(rows):
        members = [x for x in res.values() if x["group"] == r["group"]]
        ax.bar(
            i, r["mean"], color=TNA_BLUE if r["group"].startswith(("tna", "kd")) else SINGLE_GREY
        )
        ax.plot([i] * len(members), [x["test_acc_base"] for x in members], "k.", ms=6)
        curves = [[h["test_acc_base"] for h in x["history"]] for x in members]
        mean = [sum(c) / len(c) for c in zip(*curves)]
        cx.plot(
            _epochs(members[0])[: len(mean)],
            mean,
            "o-" if r["group"].startswith("tna") else "s--",
            color=colors[i % len(colors)],
            label=r["group"],
            ms=4,
        )
    ax.set_xticks(range(len(rows)), [r["group"] for r in rows], rotation=30, ha="right")
    lo = min(r["mean"] - (0 if r["std"] != r["std"] else r["std"]) for r in rows)
    ax.set_ylim(max(0, lo - 1.5), min(100, max(r["mean"] for r in rows) + 1.5))
    ax.set_ylabel("test accuracy of the base (%)")
    ax.set_title("(a) after the last epoch (dots: seeds)")
    q = next((h["epoch"] for x in res.values() for h in x["history"] if h.get("compressed")), None)
    if q is not None:
        cx.axvline(q - 0.5, color="grey", ls=":", lw=1)
    cx.xaxis.set_major_locator(MaxNLocator(integer=True))
    cx.set_xlabel("epoch (dotted: compression starts)")
    cx.set_ylabel("test accuracy of the base (%)")
    cx.set_title("(b) per epoch, mean over seeds")
    cx.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_figure(runs: list[tuple[float, dict]], path: str) -> None:
    """Per alpha, per epoch: the base's cross-entropy and accuracy on the training set, the logit-matching
    loss, and the base's and twin's validation accuracy (the paper's Fig. 2, on a held-out split)."""
    if not runs:
        return
    panels = [
        ("ce_base", "(a) cross-entropy of the base (train)"),
        ("train_acc_base", "(b) accuracy of the base (train, %)"),
        ("match", "(c) logit-matching MSE (train)"),
        ("val_acc_base", "(d) accuracy of the base (validation, %)"),
        ("val_acc_twin", "(e) accuracy of the twin (validation, %)"),
    ]
    fig, grid = plt.subplots(2, 3, figsize=(12, 6.6))
    axes, legend_ax = list(grid.flat[: len(panels)]), grid.flat[len(panels)]
    for (alpha, run), color in zip(
        sorted(runs, key=lambda p: p[0]),
        plt.cm.viridis_r([0.1 + 0.8 * i / max(len(runs) - 1, 1) for i in range(len(runs))]),
    ):
        for ax, (key, _) in zip(axes, panels):
            ax.plot(
                _epochs(run),
                [h.get(key) for h in run["history"]],
                "o-",
                color=color,
                ms=4,
                label=f"alpha {alpha:g}" + (" (paper)" if alpha == 1e-4 else ""),
            )
    for ax, (key, name) in zip(axes, panels):
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if key == "match":
            ax.set_yscale("log")
    legend_ax.axis("off")
    legend_ax.legend(
        *axes[0].get_legend_handles_labels(), loc="center", title="TNA ternary, seed 0"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
