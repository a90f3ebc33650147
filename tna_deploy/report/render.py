"""Render a report dict as Markdown (terminals, pull requests) and HTML (with plots)."""

from __future__ import annotations

import base64
import html
import io

from ..simulate.choices import PYTORCH
from ..simulate.choices import label as source_label


def pair_label(compared: str) -> str:
    """A comparison's pair as the report names it: 'onnx vs emulator' -> 'onnxruntime vs emulator'."""
    return " vs ".join(source_label(name) for name in str(compared).split(" vs "))


def _n(v, digits: int = 3) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    return f"{int(v):,}"


def _bytes(b: float) -> str:
    return f"{b / 1024:,.1f} KiB" if b >= 1024 else f"{b:,.0f} B"


def summary_lines(r: dict) -> list[str]:
    chip = r["chip"]
    lava, mem, feas = r["totals"][chip], r["memory"], r["feasibility"]
    e = r["energy"]["mean"]
    hw = r["hardware"]["name"]
    p = r.get("parity")
    lines = [
        f"- **network**: {len(r['layers'])} layers, {_n(mem['neurons'])} neurons, {_n(mem['synapses'])} synapses "
        f"({_n(mem['nonzero_synapses'])} nonzero); T = {r['timesteps']}; {r['dataset']}, {r['samples']} samples",
        "- **accuracy** on those samples: "
        + ", ".join(
            f"{source_label(k)} {v:.2f}%" for k, v in r["accuracy"].items() if v is not None
        ),
    ]
    for g in r["agreements"]:
        lines.append(
            f"- **{pair_label(g['compared'])}** on {g['samples']} samples: spikes equal {'yes' if g['spikes_equal'] else 'no'}, "
            f"logits equal {'yes' if g['logits_equal'] else 'no'}"
        )
    if p:
        lines.append(
            f"- **parity** {pair_label(p['compared'])} on {p['samples']} samples: predictions agree "
            f"{p['prediction_agreement_pct']:.1f}%, logits equal "
            f"{'yes' if p['logits_equal'] else 'no'}, spikes equal {'yes' if p['spikes_equal'] else 'no'}"
            + (
                f"; first divergence: layer {p['first_divergence']['layer']}, timestep "
                f"{p['first_divergence']['timestep']}, sample {p['first_divergence']['sample']}"
                if p.get("first_divergence")
                else ""
            )
        )
    lines += [
        f"- **synaptic ops per inference** (mean / max over samples): {_n(lava['synops_per_inference_mean'])} / "
        f"{_n(lava['synops_per_inference_max'])} effective ({_n(lava['acs'])} AC + {_n(lava['macs'])} MAC), vs "
        f"{_n(lava['synops_dense_per_inference'])} dense and {_n(r['ann_macs_per_inference'])} MACs for the same ANN",
        f"- **spikes per inference**: {_n(lava['spikes_per_inference_mean'])} mean, "
        f"{_n(lava['spikes_per_inference_max'])} max; **neuron updates**: {_n(lava['neuron_updates_per_inference'])}",
        f"- **weight memory**: {_bytes(mem['chip_bytes'])} as stored on chip vs {_bytes(mem['int8_bytes'])} all 8-bit "
        f"and {_bytes(mem['fp32_bytes'])} FP32: {mem['compression_vs_fp32']:.1f}x smaller than FP32, "
        f"{mem['compression_vs_int8']:.1f}x than 8-bit",
        f"- **cores on {hw}**: {_n(feas['total_cores'])}"
        + (
            ""
            if feas["fits_one_chip"] is None
            else f" -> {'fits on one chip' if feas['fits_one_chip'] else 'needs %s chips' % feas['chips']}"
        )
        + (
            f" (depends on unknown: {', '.join(feas['depends_on_unknown'])})"
            if feas["depends_on_unknown"]
            else ""
        ),
        "- **format limits**: " + limits_text(feas),
        "- **energy per inference**: " + energy_text(e),
        f"- **latency**: {r['latency']['timesteps_per_inference']} timesteps per inference once the "
        f"{r['latency']['pipeline_layers']}-layer pipeline is full (first result after "
        f"{r['latency']['first_result_after_steps']} steps); seconds: {_n(r['latency']['seconds'])}",
    ]
    return lines


def limits_text(feas: dict) -> str:
    """Weight bits, input bits and the state width, as the profile states them (absent in older reports)."""
    if "weight_bits_exceeded" not in feas:
        return "not checked"
    parts = [
        (
            "weights within the profile's bits"
            if not feas["weight_bits_exceeded"]
            else "weights wider than the profile allows in "
            + ", ".join(feas["weight_bits_exceeded"])
        )
    ]
    if feas.get("input_bits_within_limit") is False:
        parts.append("input spikes wider than the profile's graded spikes")
    over = feas.get("state_overflow_possible") or []
    parts.append(
        "no layer's worst-case input current exceeds the state width"
        if not over
        else "worst-case input current can exceed the state width in "
        + ", ".join(o["layer"] for o in over)
        + " (exact while real activity stays below it; simulate's parity shows whether it does)"
    )
    return "; ".join(parts)


def energy_text(e: dict) -> str:
    def rng(lo, hi):
        return f"{lo:,.1f} nJ" if lo == hi else f"{lo:,.1f} to {hi:,.1f} nJ"

    if e["complete"]:
        return f"{rng(e['low_nJ'], e['high_nJ'])} ({e['kind']})"
    known = [
        f"{t['term']} {rng(t['nJ'], t['nJ_max'])} ({t['status']})"
        for t in e["terms"]
        if t["nJ"] is not None
    ]
    missing = e["depends_on_unknown"]
    return (
        "unknown in total, because "
        + " and ".join(missing)
        + (" are" if len(missing) > 1 else " is")
        + " unknown"
        + (f"; known part: {'; '.join(known)}" if known else "")
    )


def layer_rows(r: dict) -> list[list[str]]:
    rows = []
    act = r["activity"][r["chip"]]
    cores = {c["layer"]: c for c in r["feasibility"]["per_layer"]}
    torch_act = {a["layer"]: a for a in r["activity"].get(PYTORCH, [])}
    for s, a in zip(r["layers"], act):
        c = cores[s["name"]]
        t = torch_act.get(s["name"])
        rows.append(
            [
                s["name"],
                s["mode"],
                _n(s["neurons"]),
                _n(s["synapses"]),
                _n(s["nonzero_synapses"]),
                _bytes(s["weight_bytes_chip"]),
                _n(a["spikes_in"]["per_inference_mean"]),
                _n(a["spikes_out"]["per_inference_mean"]),
                "-" if a["firing_rate"] is None else f"{a['firing_rate']:.3f}",
                f"{_n(a['synops']['per_inference_mean'])} {a['op_type']}",
                _n(t["synops"]["per_inference_mean"]) if t else "-",
                _n(a["synops_dense_per_inference"]),
                _n(s["ann_macs"]),
                f"{_n(c['cores'])} ({c['binding'] or '-'})",
            ]
        )
    return rows


HEADER = [
    "layer",
    "weights",
    "neurons",
    "synapses",
    "nonzero",
    "memory (chip)",
    "spikes in",
    "spikes out",
    "rate",
    "synops (chip)",
    "synops (PyTorch)",
    "dense synops",
    "ANN MACs",
    "cores (binding)",
]


def to_markdown(r: dict) -> str:
    out = [
        f"# tna-deploy report: {r['dataset']} on {r['hardware']['name']}",
        "",
        f"Netx file `{r['netx_file']}`, simulation `{r['sim_dir']}` ({source_label(r['chip'])} counts), "
        f"report format {r['format_version']}.",
        "Counts are per inference (T = %d timesteps), mean over samples unless marked max."
        % r["timesteps"],
        "",
    ]
    out += summary_lines(r) + [
        "",
        "## Per layer",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    out += ["| " + " | ".join(row) + " |" for row in layer_rows(r)]
    out += [
        "",
        f"## Hardware figures ({r['hardware']['name']}, `{r['hardware']['path']}`)",
        "",
        "| figure | value | status | source |",
        "|---|---|---|---|",
    ]
    for k, f in r["hardware"]["figures"].items():
        val = _n(f["value"]) + (
            f" to {_n(f['value_max'])}" if f.get("value_max") is not None else ""
        )
        out.append(f"| {k} | {val} | {f['status']} | {f['source']} |")
    e = r["energy"]["mean"]
    out += [
        "",
        "## Energy terms (mean inference)",
        "",
        "| term | count | pJ per op | status | nJ |",
        "|---|---|---|---|---|",
    ]
    for t in e["terms"]:
        out.append(
            f"| {t['term']} | {_n(t['count'])} | {_n(t.get('pj_per_op'))} | {t['status']} | {_n(t['nJ'])} |"
        )
    out += ["", "## Assumptions", ""] + [f"- {a}" for a in r["assumptions"]] + [""]
    return "\n".join(out)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(r: dict) -> dict:
    """Per-layer synaptic ops, spike rates, memory and cores, as base64 PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["name"] for s in r["layers"]]
    act = r["activity"][r["chip"]]
    chip = source_label(r["chip"])
    x = range(len(names))
    figs = {}

    def bar(title, series, ylabel, log=False):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        width = 0.8 / len(series)
        for i, (label, values) in enumerate(series.items()):
            ax.bar(
                [v + i * width for v in x],
                [0 if v is None else v for v in values],
                width,
                label=label,
            )
        ax.set_xticks([v + width * (len(series) - 1) / 2 for v in x])
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        if len(series) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
        png = _png(fig)
        plt.close(fig)
        return png

    figs["synops"] = bar(
        "Synaptic operations per inference",
        {
            f"effective ({chip}, mean)": [a["synops"]["per_inference_mean"] for a in act],
            "dense": [a["synops_dense_per_inference"] for a in act],
            "ANN MACs": [s["ann_macs"] for s in r["layers"]],
        },
        "ops",
        log=True,
    )
    figs["rates"] = bar(
        "Firing rate (spikes per neuron per timestep)",
        {chip: [a["firing_rate"] for a in act]},
        "rate",
    )
    figs["memory"] = bar(
        "Weight memory",
        {
            "on chip": [s["weight_bytes_chip"] for s in r["layers"]],
            "8-bit": [s["weight_bytes_int8"] for s in r["layers"]],
            "FP32": [s["weight_bytes_fp32"] for s in r["layers"]],
        },
        "bytes",
        log=True,
    )
    figs["cores"] = bar(
        f"Cores per layer on {r['hardware']['name']}",
        {"cores": [c["cores"] for c in r["feasibility"]["per_layer"]]},
        "cores",
    )
    return figs


def _table(header, rows, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(v) -> str:
    """Escape anything that came from a file (results.json, netx metadata, a profile) for HTML."""
    return html.escape(str(v))


def render_html(r: dict) -> str:
    import re

    figs = plots(r)
    summary = "".join(
        "<li>" + re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", _e(line[2:])) + "</li>"
        for line in summary_lines(r)
    )
    hw_rows = [
        [
            k,
            _n(f["value"])
            + (f" to {_n(f['value_max'])}" if f.get("value_max") is not None else ""),
            f["status"],
            f["source"],
        ]
        for k, f in r["hardware"]["figures"].items()
    ]
    imgs = "".join(
        f'<figure><img alt="{_e(k)}" src="data:image/png;base64,{v}"></figure>'
        for k, v in figs.items()
    )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f0f0f0}"
        "td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:0.5em}"
        "img{max-width:560px}table.hw td{text-align:left}"
    )
    hw = r["hardware"]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>tna-deploy report</title>"
        f"<style>{style}</style></head><body>"
        f"<h1>tna-deploy report: {_e(r['dataset'])} on {_e(hw['name'])}</h1>"
        f"<p>Netx file <code>{_e(r['netx_file'])}</code>. Counts per inference (T = {_e(r['timesteps'])}), "
        f"mean over {_e(r['samples'])} samples unless marked max.</p><ul>{summary}</ul>"
        f"<h2>Plots</h2>{imgs}<h2>Per layer</h2>{_table(HEADER, layer_rows(r))}"
        f"<h2>Hardware figures ({_e(hw['name'])}, profile <code>{_e(hw['path'])}</code>)</h2>"
        f"{_table(['figure', 'value', 'status', 'source'], hw_rows, 'hw')}"
        f"<h2>Assumptions</h2><ul>{''.join('<li>' + _e(a) + '</li>' for a in r['assumptions'])}</ul>"
        f"</body></html>"
    )
