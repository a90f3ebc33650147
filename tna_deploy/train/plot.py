"""Training curves in the manner of the paper's Fig. 2: losses, matching loss, accuracy."""

from __future__ import annotations

from ..atomic import atomic_write


def plot_history(history: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    ax.plot(ep, [r["ce_base"] for r in history], "o-", label="CE base")
    if any(r.get("ce_twin") is not None for r in history):
        ax.plot(ep, [r.get("ce_twin") for r in history], "s--", label="CE twin")
    ax.set_title("cross-entropy (train)")
    ax = axes[1]
    if any(r.get("match") is not None for r in history):
        ax.plot(ep, [r.get("match") for r in history], "o-", color="tab:purple")
    ax.set_title("logit-matching MSE (train)")
    ax = axes[2]
    ax.plot(ep, [r["train_acc_base"] for r in history], "o-", label="base train")
    ax.plot(ep, [r["test_acc_base"] for r in history], "o-", label="base test")
    if any(r.get("val_acc_base") is not None for r in history):
        ax.plot(ep, [r.get("val_acc_base") for r in history], "^:", label="base val")
    if any(r.get("test_acc_twin") is not None for r in history):
        ax.plot(ep, [r.get("train_acc_twin") for r in history], "s--", label="twin train")
        ax.plot(ep, [r.get("test_acc_twin") for r in history], "s--", label="twin test")
    ax.set_title("accuracy (%)")
    q = next((r["epoch"] for r in history if r.get("compressed")), None)
    for a in axes:
        a.set_xlabel("epoch")
        if q is not None:
            a.axvline(q - 0.5, color="grey", ls=":", lw=1)
    axes[0].legend(fontsize=8)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)
