"""What the CLI prints: progress bars and chatter on stderr, results on stdout. The library never prints
(it logs and takes progress callbacks); these printers are its callbacks and its result readers."""

from __future__ import annotations

import json
import sys

import click


def _bar(total: int, desc: str, unit: str, leave: bool = False):
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        dynamic_ncols=True,
        disable=None,
    )


class TrainProgress:
    """``train``'s callbacks: a bar per epoch (images/s and the epoch's ETA, on a terminal only) and
    one line per finished epoch."""

    def __init__(self, epochs: int):
        self.epochs, self.bar = epochs, None

    def on_batch(self, epoch, done, n, loss) -> None:
        if self.bar is None:
            self.bar = _bar(n, f"epoch {epoch + 1}/{self.epochs}", "img")
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix(loss=f"{loss:.3f}")

    def on_epoch(self, row: dict) -> None:
        self.close()
        twin = f", twin {row['test_acc_twin']:.2f}%" if row.get("test_acc_twin") is not None else ""
        val = (
            f", val base {row['val_acc_base']:.2f}%" if row.get("val_acc_base") is not None else ""
        )
        click.echo(
            f"epoch {row['epoch']}/{self.epochs}: loss {row['train_loss']:.4f}, test base "
            f"{row['test_acc_base']:.2f}%{twin}{val}{' [compressed]' if row['compressed'] else ''}, "
            f"{row['images_per_s']:.0f} img/s",
            err=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def trained(cfg, result, out: str) -> None:
    f = result.final
    twin = f", twin {f['test_acc_twin']:.2f}%" if f.get("test_acc_twin") is not None else ""
    click.echo(
        f"trained {cfg.method}/{cfg.weights} on {cfg.dataset}: {len(result.history)} epochs, test accuracy "
        f"base {f.get('test_acc_base', float('nan')):.2f}%{twin} -> {out}"
    )


def evaluation(run_dir: str, res: dict, as_json: bool) -> None:
    """The accuracies, then a table of every base layer's weight values (or all of it as JSON)."""
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    twins = "".join(f", twin {a:.2f}%" for a in res["test_acc_twins"])
    click.echo(
        f"{run_dir} (epoch {res['epoch']}, {res['samples']} test samples): "
        f"base {res['test_acc_base']:.2f}%{twins}"
    )
    click.echo(
        f"{'layer':<12}{'role':<8}{'mode':<9}{'weights':>9}{'distinct':>10}  values (x1/64: share)"
    )
    for r in res["base_layers"]:
        shares = (
            "  ".join(f"{v:+g}: {s:.1%}" for v, s in sorted(r["shares"].items()))
            if r["shares"]
            else f"zeros {r['zero_share']:.1%}"
        )
        click.echo(
            f"{r['layer']:<12}{r['role']:<8}{r['mode']:<9}{r['n_weights']:>9}{r['distinct']:>10}  {shares}"
        )


def exported(res) -> None:
    """An ``export.formats.Exported``: its notes on stderr, what was written and checked on stdout."""
    for note in res.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(res.line)
    click.echo(res.check)


class SimProgress:
    """``simulate``'s bar, which appears once a backend runs (never before an input error)."""

    def __init__(self, backends: list):
        self.desc, self.bar = ",".join(backends), None

    def on_progress(self, done, total) -> None:
        if self.bar is None:
            self.bar = _bar(total, self.desc, "sample")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def simulated(res: dict, backends: list, out: str, wall: float = None, label=str) -> None:
    """Each backend's accuracy and speed, then each agreement between backends and the parity with
    PyTorch, layer by layer; then where the time went (``wall``: the whole simulation, writing
    included)."""
    for b in backends:
        r = res[b]
        acc = f", accuracy {r['accuracy']:.2f}%" if "accuracy" in r else ""
        rate = f" ({r['samples_per_second']:.1f} samples/s)" if r.get("samples_per_second") else ""
        click.echo(f"{b}: {res['samples']} samples{acc}, {r['seconds']:.1f} s{rate}")
    checks = [("agreement", p) for p in res.get("agreements", [])] + (
        [("parity", res["parity"])] if "parity" in res else []
    )
    for key, p in checks:
        if key == "parity":
            r = res["torch"]
            click.echo(f"pytorch: accuracy {r['accuracy']:.2f}%, {r['seconds']:.1f} s")
        _comparison(key, p)
    if wall is not None and "timing" in res:
        click.echo(_time_line(res, backends[0], wall, label))
    click.echo(f"results -> {out}/results.json, {out}/counts.npz")


def _time_line(res: dict, chip: str, wall: float, label) -> str:
    """The whole simulation against the chip model's own seconds, and its parts; ``label(source)``: how
    a source is named (the simulate registry's labels, handed in by the command)."""
    own = res[chip]["seconds"]
    ratio = f" = {wall / own:.2f}x {label(chip)}'s {own:.1f} s" if own > 0 else ""
    parts = [f"{label(b)} {res[b]['seconds']:.1f} s" for b in res["backends"]]
    if "torch" in res:
        parts.append(f"PyTorch {res['torch']['seconds']:.1f} s")
    tm = res["timing"]
    parts += [f"comparison {tm['comparison']:.1f} s", f"counting {tm['counting']:.1f} s"]
    return f"time: {wall:.1f} s in all{ratio} ({', '.join(parts)}; the rest reads and writes)"


def _comparison(key: str, p: dict) -> None:
    a, b = p["compared"].split(" vs ")
    click.echo(
        f"{key} {p['compared']}: predictions agree {p['prediction_agreement_pct']:.1f}%, logits equal "
        f"{'yes' if p['logits_equal'] else 'no'} (max diff {p['logits_max_abs_diff']:g}), spikes equal "
        f"{'yes' if p['spikes_equal'] else 'no'}, spike counts equal {'yes' if p['spike_counts_equal'] else 'no'}"
    )
    for r in p["per_layer"]:
        click.echo(
            f"  {r['layer']:<10} {'equal' if r['equal'] else 'DIFFERS'}  {a} {r[a + '_spikes']:>9}  "
            f"{b} {r[b + '_spikes']:>9}  mismatched {r['mismatched']}"
        )
    if p["first_divergence"]:
        d = p["first_divergence"]
        click.echo(
            f"first divergence: layer {d['layer']}, timestep {d['timestep']}, sample {d['sample']}"
        )
