"""Render the report tree (``model.Report``) as Markdown (terminals, pull requests) and HTML (with plots).

Both read one document, ``document(report)``: the title, the summary, the per-layer, hardware-figure and
energy tables and the assumptions, as blocks; each format only lays the blocks out, so the Markdown and the
HTML name the same figures. report.json is the tree's own ``to_json``."""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field

from ..simulate.choices import PYTORCH
from ..simulate.choices import label as source_label
from .model import FORMAT_VERSION, REPORT, Energy, Feasibility, Report


def _n(v, digits: int = 3) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    return f"{int(v):,}"


def _bytes(b: float) -> str:
    return f"{b / 1024:,.1f} KiB" if b >= 1024 else f"{b:,.0f} B"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# ---- what the report says ---------------------------------------------------------------------------
def summary_lines(r: Report) -> list[str]:
    """The summary as Markdown bullets ("- **label**: ..."); the CLI prints them without the stars."""
    tot, mem, feas, lat = r.totals[r.chip], r.memory, r.feasibility, r.latency
    lines = [
        f"- **network**: {len(r.layers)} layers, {_n(mem.neurons)} neurons, {_n(mem.synapses)} synapses "
        f"({_n(mem.nonzero_synapses)} nonzero); T = {r.timesteps}; {r.dataset}, {r.samples} samples",
    ]
    known = [f"{source_label(k)} {v:.2f}%" for k, v in r.accuracy.items() if v is not None]
    lines.append(
        "- **accuracy** on those samples: "
        + (", ".join(known) if known else "no labels (raw --input): not measured")
    )
    for g in r.agreements:
        lines.append(
            f"- **{g.label}** on {g.samples} samples: spikes equal {_yes(g.spikes_equal)}, "
            f"logits equal {_yes(g.logits_equal)}"
        )
    p = r.parity
    if p:
        d = p.first_divergence
        lines.append(
            f"- **parity** {p.label} on {p.samples} samples: predictions agree "
            f"{p.prediction_agreement_pct:.1f}%, logits equal {_yes(p.logits_equal)}, spikes equal "
            f"{_yes(p.spikes_equal)}"
            + (
                f"; first divergence: layer {d.layer}, timestep {d.timestep}, sample {d.sample}"
                if d
                else ""
            )
        )
    lines += [
        f"- **synaptic ops per inference** (mean / max over samples): {_n(tot.synops_per_inference_mean)} / "
        f"{_n(tot.synops_per_inference_max)} effective ({_n(tot.acs)} AC + {_n(tot.macs)} MAC), vs "
        f"{_n(tot.synops_dense_per_inference)} dense and {_n(r.ann_macs_per_inference)} MACs for the same ANN",
        f"- **spikes per inference**: {_n(tot.spikes_per_inference_mean)} mean, "
        f"{_n(tot.spikes_per_inference_max)} max; **neuron updates**: {_n(tot.neuron_updates_per_inference)}",
        f"- **weight memory**: {_bytes(mem.chip_bytes)} as stored on chip vs {_bytes(mem.int8_bytes)} all 8-bit "
        f"and {_bytes(mem.fp32_bytes)} FP32: {mem.compression_vs_fp32:.1f}x smaller than FP32, "
        f"{mem.compression_vs_int8:.1f}x than 8-bit",
        f"- **cores on {r.hardware.name}**: {_n(feas.total_cores)}"
        + (
            ""
            if feas.fits_one_chip is None
            else f" -> {'fits on one chip' if feas.fits_one_chip else 'needs %s chips' % feas.chips}"
        )
        + (
            f" (depends on unknown: {', '.join(feas.depends_on_unknown)})"
            if feas.depends_on_unknown
            else ""
        ),
        "- **format limits**: " + limits_text(feas),
        "- **energy per inference**: " + energy_text(r.energy.mean),
        "- **time**: " + timing_text(r),
        f"- **latency**: {lat.timesteps_per_inference} timesteps per inference once the "
        f"{lat.pipeline_layers}-layer pipeline is full (first result after "
        f"{lat.first_result_after_steps} steps); seconds: " + latency_seconds(r),
    ]
    if r.basis is not None:
        lines.append("- **basis**: " + basis_text(r))
    return lines


def _span(lo: float, hi: float, scale: float, unit: str, digits: int = 3) -> str:
    return f"{lo * scale:,.{digits}g} to {hi * scale:,.{digits}g} {unit}"


def timing_text(r: Report) -> str:
    tm = r.timing
    if tm is None or not tm.known:
        missing = tm.depends_on_unknown if tm is not None else []
        return "unknown" + (
            f" (the profile lacks {', '.join(missing)})"
            if missing
            else " (the profile has no time model, or the cores are unknown)"
        )
    return (
        f"{_span(tm.seconds_per_step_low, tm.seconds_per_step_high, 1e6, 'us')} per step, "
        f"{_span(tm.seconds_per_inference_low, tm.seconds_per_inference_high, 1e3, 'ms')} per "
        f"inference, {_span(tm.inferences_per_second_low, tm.inferences_per_second_high, 1, 'inferences/s')} "
        f"({tm.kind}; busiest core: {tm.busiest_layer_low}, {tm.binding_term_low}"
        + (
            f"; at the high end {tm.busiest_layer}, {tm.binding_term}"
            if (tm.busiest_layer, tm.binding_term) != (tm.busiest_layer_low, tm.binding_term_low)
            else ""
        )
        + (f"; lacks {', '.join(tm.depends_on_unknown)}" if tm.depends_on_unknown else "")
        + ")"
    )


def latency_seconds(r: Report) -> str:
    tm = r.timing
    if tm is not None and tm.known:
        return f"{_span(tm.first_result_seconds_low, tm.first_result_seconds_high, 1e3, 'ms')} to the first result"
    return _n(r.latency.seconds)


def basis_text(r: Report) -> str:
    b = r.basis
    names = {
        "neurons": "neurons",
        "synops_per_inference": "synaptic ops per inference",
        "synops_per_neuron_step": "synaptic ops per neuron-step",
        "firing_rate": "firing rate",
        "busiest_core_synops_per_step": "busiest core's synaptic ops per step",
    }
    ratios = ", ".join(f"{names[k]} x{v:.3g}" for k, v in b.ratios.items())
    return f"time and energy {b.basis}; this network against {b.network}: {ratios} " + (
        "(within 2x of it on every figure)"
        if b.within_2x
        else "(more than 2x from it on some figure: the figures extrapolate the calibration)"
    )


def limits_text(feas: Feasibility) -> str:
    """Weight bits, input bits and the state width, as the profile states them (absent in older reports)."""
    if feas.weight_bits_exceeded is None:
        return "not checked"
    parts = [
        (
            "weights within the profile's bits"
            if not feas.weight_bits_exceeded
            else "weights wider than the profile allows in " + ", ".join(feas.weight_bits_exceeded)
        )
    ]
    if feas.input_bits_within_limit is False:
        parts.append("input spikes wider than the profile's graded spikes")
    over = feas.state_overflow_possible or []
    parts.append(
        "no layer's worst-case input current exceeds the state width"
        if not over
        else "worst-case input current can exceed the state width in "
        + ", ".join(o.layer for o in over)
        + " (exact while real activity stays below it; simulate's parity shows whether it does)"
    )
    return "; ".join(parts)


def _energy(nj: float) -> str:
    for unit, scale in (("mJ", 1e6), ("uJ", 1e3)):
        if abs(nj) >= scale:
            return f"{nj / scale:,.3g} {unit}"
    return f"{nj:,.1f} nJ"


def energy_text(e: Energy) -> str:
    def rng(lo, hi):
        return _energy(lo) if lo == hi else f"{_energy(lo)} to {_energy(hi)}"

    if e.complete:
        if e.static is not None:
            st = e.static
            return (
                f"{rng(e.low_nJ, e.high_nJ)} ({e.kind}: static {rng(st.nJ, st.nJ_max)} on "
                f"{st.chips} chip{'s' if st.chips > 1 else ''}, dynamic "
                f"{rng(e.low_nJ - st.nJ, e.high_nJ - st.nJ_max)})"
            )
        return f"{rng(e.low_nJ, e.high_nJ)} ({e.kind})"
    known = [f"{t.term} {rng(t.nJ, t.nJ_max)} ({t.status})" for t in e.terms if t.nJ is not None]
    missing = e.depends_on_unknown
    return (
        "unknown in total, because "
        + " and ".join(missing)
        + (" are" if len(missing) > 1 else " is")
        + " unknown"
        + (f"; known part: {'; '.join(known)}" if known else "")
    )


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


def layer_rows(r: Report) -> list[list[str]]:
    cores = {c.layer: c for c in r.feasibility.per_layer}
    torch_act = {a.layer: a for a in r.activity.get(PYTORCH, [])}
    rows = []
    for s, a in zip(r.layers, r.activity[r.chip]):
        c, t = cores[s.name], torch_act.get(s.name)
        rows.append(
            [
                s.name,
                s.mode,
                _n(s.neurons),
                _n(s.synapses),
                _n(s.nonzero_synapses),
                _bytes(s.weight_bytes_chip),
                _n(a.spikes_in.per_inference_mean),
                _n(a.spikes_out.per_inference_mean),
                "-" if a.firing_rate is None else f"{a.firing_rate:.3f}",
                f"{_n(a.synops.per_inference_mean)} {a.op_type}",
                _n(t.synops.per_inference_mean) if t else "-",
                _n(a.synops_dense_per_inference),
                _n(s.ann_macs),
                f"{_n(c.cores)} ({c.binding or '-'})",
            ]
        )
    return rows


def figure_rows(r: Report) -> list[list[str]]:
    """The profile's figures, each with its value (a range where it has one), status and source."""
    return [
        [
            k,
            _n(f.value) + (f" to {_n(f.value_max)}" if f.value_max is not None else ""),
            f.status,
            f.source,
        ]
        for k, f in r.hardware.figures.items()
    ]


def energy_rows(e: Energy) -> list[list[str]]:
    def rng(lo, hi):
        return _n(lo) if hi is None or hi == lo else f"{_n(lo)} to {_n(hi)}"

    rows = [
        [t.term, _n(t.count), rng(t.pj_per_op, t.pj_per_op_max), t.status, rng(t.nJ, t.nJ_max)]
        for t in e.terms
    ]
    if e.static is not None:
        st = e.static
        rows.append(
            [
                "static power",
                f"{st.chips} chip(s) x the inference",
                f"{rng(st.watts_per_chip, st.watts_per_chip_max)} W per chip",
                st.status,
                rng(st.nJ, st.nJ_max),
            ]
        )
    return rows


# ---- the document both formats lay out ---------------------------------------------------------------
# Text may hold **bold** and `code`; table cells are plain.
@dataclass
class Title:
    text: str


@dataclass
class Heading:
    text: str


@dataclass
class Text:
    lines: list[str]


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    cls: str = ""


@dataclass
class Plots:
    """The per-layer plots (HTML only)."""

    report: Report = field(repr=False)


def document(r: Report) -> list:
    hw = r.hardware
    return [
        Title(f"tna-deploy report: {r.dataset} on {hw.name}"),
        Text(
            [
                f"Netx file `{r.netx_file}`, simulation `{r.sim_dir}` ({source_label(r.chip)} counts), "
                f"report format {FORMAT_VERSION}.",
                f"Counts are per inference (T = {r.timesteps} timesteps), mean over samples unless "
                f"marked max.",
            ]
        ),
        Bullets([line[2:] for line in summary_lines(r)]),
        Plots(r),
        Heading("Per layer"),
        Table(HEADER, layer_rows(r)),
        Heading(f"Hardware figures ({hw.name}, `{hw.path}`)"),
        Table(["figure", "value", "status", "source"], figure_rows(r), "hw"),
        Heading("Energy terms (mean inference)"),
        Table(["term", "count", "pJ per op", "status", "nJ"], energy_rows(r.energy.mean)),
        *time_blocks(r),
        Heading("Assumptions"),
        Bullets(r.assumptions),
    ]


def time_blocks(r: Report) -> list:
    """The time model's per-layer work on each layer's fullest core (with the compiler's accounting)."""
    tm = r.timing
    if tm is None or not tm.cores:
        return []
    cores = {c.layer: c for c in r.feasibility.per_layer}
    rows = [
        [
            w.layer,
            _n(cores[w.layer].cores),
            "x".join(str(v) for v in reversed(cores[w.layer].tile or [])),
            _n(w.synops),
            _n(w.updates),
            _n(w.spikes),
        ]
        for w in tm.cores
    ]
    header = [
        "layer",
        "cores",
        "tile (x-y-c or neurons)",
        "synaptic ops",
        "neuron updates",
        "spikes sent",
    ]
    return [
        Heading("Time model: the fullest core of each layer, per timestep"),
        Table(header, rows),
    ]


# ---- Markdown ---------------------------------------------------------------------------------------
def _md(block) -> str | None:
    if isinstance(block, Title):
        return f"# {block.text}"
    if isinstance(block, Heading):
        return f"## {block.text}"
    if isinstance(block, Text):
        return "\n".join(block.lines)
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return "\n".join(
            ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
            + ["| " + " | ".join(row) + " |" for row in block.rows]
        )
    return None  # plots: HTML only


def to_markdown(r: Report) -> str:
    return "\n\n".join(t for b in document(r) if (t := _md(b)) is not None) + "\n"


# ---- HTML -------------------------------------------------------------------------------------------
def _e(v) -> str:
    """Escape anything that came from a file (results.json, netx metadata, a profile) for HTML."""
    return html.escape(str(v))


def _inline(text: str) -> str:
    """Escaped text with its **bold** and `code` as tags."""
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", _e(text))
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", out)


def _table(t: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return f"<table class='{t.cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(block) -> str:
    if isinstance(block, Title):
        return f"<h1>{_inline(block.text)}</h1>"
    if isinstance(block, Heading):
        return f"<h2>{_inline(block.text)}</h2>"
    if isinstance(block, Text):
        return f"<p>{' '.join(_inline(line) for line in block.lines)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    imgs = "".join(
        f'<figure><img alt="{_e(k)}" src="data:image/png;base64,{v}"></figure>'
        for k, v in plots(block.report).items()
    )
    return f"<h2>Plots</h2>{imgs}"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}"
    "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f0f0f0}"
    "td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:0.5em}"
    "img{max-width:560px}table.hw td{text-align:left}"
)


def render_html(r: Report) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>tna-deploy report</title>"
        f"<style>{STYLE}</style></head><body>"
        + "".join(_html(b) for b in document(r))
        + "</body></html>"
    )


# --format: its file and its renderer
FORMATS = {
    "json": (REPORT, Report.to_json),
    "md": ("report.md", to_markdown),
    "html": ("report.html", render_html),
}


# ---- plots ------------------------------------------------------------------------------------------
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(r: Report) -> dict:
    """Per-layer synaptic ops, spike rates, memory and cores, as base64 PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.name for s in r.layers]
    act = r.activity[r.chip]
    chip = source_label(r.chip)
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
            ax.legend(fontsize=8, loc="upper right")  # "best" searches, slowly and with a warning
        fig.tight_layout()
        png = _png(fig)
        plt.close(fig)
        return png

    figs["synops"] = bar(
        "Synaptic operations per inference",
        {
            f"effective ({chip}, mean)": [a.synops.per_inference_mean for a in act],
            "dense": [a.synops_dense_per_inference for a in act],
            "ANN MACs": [s.ann_macs for s in r.layers],
        },
        "ops",
        log=True,
    )
    figs["rates"] = bar(
        "Firing rate (spikes per neuron per timestep)",
        {chip: [a.firing_rate for a in act]},
        "rate",
    )
    figs["memory"] = bar(
        "Weight memory",
        {
            "on chip": [s.weight_bytes_chip for s in r.layers],
            "8-bit": [s.weight_bytes_int8 for s in r.layers],
            "FP32": [s.weight_bytes_fp32 for s in r.layers],
        },
        "bytes",
        log=True,
    )
    figs["cores"] = bar(
        f"Cores per layer on {r.hardware.name}",
        {"cores": [c.cores for c in r.feasibility.per_layer]},
        "cores",
    )
    return figs
