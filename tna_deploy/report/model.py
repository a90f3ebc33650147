"""The report as a typed tree, with one writer (``Report.to_dict`` / ``to_json``) and one reader
(``read`` / ``Report.from_dict``) of report.json (format ``tna-deploy-report``; docs/report-schema.md).

The tree is built by ``build.build_report`` and rendered by ``render`` (Markdown, HTML); report.json is the
tree itself: one generic walk turns each node into its JSON object, field by field in declaration order,
and back. Counts are per inference unless a field says ``per_timestep``; ``None`` is unknown (never zero);
bytes are bytes, energy nJ (a term's figure pJ per op). The profile (``hardware.profile.Profile``, every
figure with its value, status and source) and the comparisons (``simulate.results.Comparison``) are the
typed records of their own modules, carried as they are."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .. import __version__
from ..errors import CheckpointError, version_problem
from ..hardware.profile import Calibration, Figure, Profile
from ..simulate.results import Comparison, read_comparison

FORMAT = "tna-deploy-report"
FORMAT_VERSION = 3
REPORT = "report.json"
REDO = "re-run tna-deploy report"


def _omitted_when_none(**kw):
    """A field report.json leaves out when it is None (absent in older reports, or not modelled)."""
    return field(default=None, metadata={"omit_none": True}, **kw)


# ---- the generic walk ------------------------------------------------------------------------------
class Node:
    """A dataclass of the tree: to and from its JSON object by its fields' declared types."""

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _to_json(value)
        return out

    @classmethod
    def from_dict(cls, raw: Any):
        if not isinstance(raw, dict):
            raise TypeError(f"{cls.__name__}: expected an object, got {type(raw).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        extra = set(raw) - names
        if extra:
            raise TypeError(f"{cls.__name__}: unexpected {', '.join(sorted(extra))}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in raw:
                kwargs[f.name] = _from_json(hints[f.name], raw[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}: missing {f.name}")
        return cls(**kwargs)


def _to_json(value):
    if hasattr(value, "to_dict"):  # a Node, or a record of another module (Profile, Comparison)
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _profile(raw: dict) -> Profile:
    cal = raw.get("calibration")
    return Profile(
        raw["name"],
        raw["path"],
        {k: Figure(**f) for k, f in raw["figures"].items()},
        None if cal is None else Calibration(**cal),
    )


def _from_json(tp, raw):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):  # Optional[X]
        if raw is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _from_json(inner, raw)
    if isinstance(tp, type) and issubclass(tp, Node):
        return tp.from_dict(raw)
    if tp is Profile:
        return _profile(raw)
    if origin is list:
        if not isinstance(raw, list):
            raise TypeError(f"expected a list, got {type(raw).__name__}")
        return [_from_json(args[0], v) for v in raw]
    if origin is dict:
        if not isinstance(raw, dict):
            raise TypeError(f"expected an object, got {type(raw).__name__}")
        return {k: _from_json(args[1], v) for k, v in raw.items()}
    return raw  # a leaf: str, int, float, bool (or Any)


# ---- the network: static counts per compute layer ----------------------------------------------------
@dataclass
class LayerStatic(Node):
    """One compute layer's structure (``hardware.counts.static_counts``): an input layer with its own
    neuron has neurons and zeros elsewhere (``kind`` input, ``mode`` none)."""

    name: str
    kind: str  # input, conv, pool, dense, output
    role: str
    mode: str  # none, int8, ternary, binary, fp (a fixed pool weight)
    weight_bits: int
    in_shape: list[int]
    out_shape: list[int]
    neurons: int
    synapses: int  # exact, borders and strides included
    nonzero_synapses: int
    parameters: int
    nonzero_parameters: int
    fan_in_max: int
    weight_row_sum_max: int  # the largest sum of |weight| into one neuron (the state-width check)
    weight_bytes_chip: float  # bytes: parameters x weight bits
    weight_bytes_int8: float  # bytes
    weight_bytes_fp32: float  # bytes
    synapse_bytes_expanded: float  # bytes: nonzero synapses x weight bits
    ann_macs: int  # MACs of the same layer in a dense ANN, one pass
    distinct_weights: int


# ---- activity: measured per layer, per source --------------------------------------------------------
@dataclass
class Stats(Node):
    """A count per timestep and per inference, each the mean and the max over the samples."""

    per_timestep_mean: list[float]
    per_timestep_max: list[float]
    per_inference_mean: float
    per_inference_max: float


@dataclass
class LayerActivity(Node):
    """One layer's measured counts from one source (``hardware.counts.layer_activity``)."""

    layer: str
    op_type: str  # AC, MAC (the first layer on graded input), - (an input layer)
    synops: Stats  # effective synaptic ops
    synops_dense_per_timestep: float  # every input and weight 1
    synops_dense_per_inference: float
    spikes_in: Stats
    spikes_out: Stats  # zeros for the read-out
    firing_rate: Optional[float]  # spikes per neuron per timestep; None for the read-out
    neuron_updates_per_inference: int


@dataclass
class Totals(Node):
    """Sums over the layers of one source's activity."""

    synops_per_inference_mean: float
    synops_per_inference_max: float
    synops_dense_per_inference: float
    spikes_per_inference_mean: float
    spikes_per_inference_max: float
    neuron_updates_per_inference: int
    macs: float  # mean effective synaptic ops of the MAC layers
    acs: float  # mean effective synaptic ops of the AC layers

    @classmethod
    def of(cls, activity: list[LayerActivity]) -> Totals:
        return cls(
            synops_per_inference_mean=sum(a.synops.per_inference_mean for a in activity),
            synops_per_inference_max=sum(a.synops.per_inference_max for a in activity),
            synops_dense_per_inference=sum(a.synops_dense_per_inference for a in activity),
            spikes_per_inference_mean=sum(a.spikes_out.per_inference_mean for a in activity),
            spikes_per_inference_max=sum(a.spikes_out.per_inference_max for a in activity),
            neuron_updates_per_inference=sum(a.neuron_updates_per_inference for a in activity),
            macs=sum(a.synops.per_inference_mean for a in activity if a.op_type == "MAC"),
            acs=sum(a.synops.per_inference_mean for a in activity if a.op_type == "AC"),
        )


# ---- memory, cores, energy, latency -----------------------------------------------------------------
@dataclass
class Memory(Node):
    chip_bytes: float  # weights as stored on the chip
    int8_bytes: float
    fp32_bytes: float
    compression_vs_fp32: float
    compression_vs_int8: float
    neurons: int
    synapses: int
    nonzero_synapses: int

    @classmethod
    def of(cls, layers: list[LayerStatic]) -> Memory:
        chip = sum(s.weight_bytes_chip for s in layers)
        int8 = sum(s.weight_bytes_int8 for s in layers)
        fp32 = sum(s.weight_bytes_fp32 for s in layers)
        return cls(
            chip_bytes=chip,
            int8_bytes=int8,
            fp32_bytes=fp32,
            compression_vs_fp32=fp32 / chip,
            compression_vs_int8=int8 / chip,
            neurons=sum(s.neurons for s in layers),
            synapses=sum(s.synapses for s in layers),
            nonzero_synapses=sum(s.nonzero_synapses for s in layers),
        )


@dataclass
class LayerCores(Node):
    layer: str
    cores: Optional[int]  # None when a limit it depends on is unknown
    # the limit that sets the cores: neurons or synaptic_memory; with the compiler's accounting also
    # tile_shape (a power-of-two tile width alone cuts the layer) or none
    binding: Optional[str]
    by_limit: dict[str, int]
    fan_in_within_limit: Optional[bool]
    # the compiler's accounting only (hardware.mapper): the fullest core's tile ([c, y, x] of a spatial
    # layer, [neurons] of a dense one), its neurons and synaptic-memory words, its share of the layer
    tile: Optional[list[int]] = _omitted_when_none()
    neurons_per_core: Optional[int] = _omitted_when_none()
    synaptic_words_per_core: Optional[int] = _omitted_when_none()
    share: Optional[float] = _omitted_when_none()


@dataclass
class StateOverflow(Node):
    layer: str
    worst_case_current: int  # the largest input current in one step
    state_max: int


@dataclass
class Feasibility(Node):
    """Cores per layer under the profile's limits, and the network against the profile's format limits
    (``hardware.feasibility.feasibility``)."""

    per_layer: list[LayerCores]
    total_cores: Optional[int]
    fits_one_chip: Optional[bool]
    chips: Optional[int]
    fan_in_exceeded: list[str]
    depends_on_unknown: list[str]  # profile figures the core count needs and does not know
    weight_bits_exceeded: Optional[list[str]] = _omitted_when_none()  # None: not checked
    input_bits_within_limit: Optional[bool] = None  # None: unknown (or not checked)
    state_overflow_possible: Optional[list[StateOverflow]] = _omitted_when_none()
    accounting: Optional[str] = _omitted_when_none()  # compiler, or per-core limits

    def to_dict(self) -> dict:
        out = Node.to_dict(self)
        if self.weight_bits_exceeded is None:  # a report from before the limits were checked
            out.pop("input_bits_within_limit")
        return out


@dataclass
class EnergyTerm(Node):
    term: str  # synaptic ops, neuron updates, output spikes
    count: float  # per inference
    figure: str  # the profile's figure, e.g. energy_synop_pj
    status: str  # the figure's status, or unknown
    nJ: Optional[float]  # None when the figure is unknown
    pj_per_op: Optional[float] = None
    pj_per_op_max: Optional[float] = None
    nJ_max: Optional[float] = None

    @property
    def known(self) -> bool:
        return self.status != "unknown"

    def to_dict(self) -> dict:
        out = dict(term=self.term, count=self.count, figure=self.figure)
        if self.known:
            out.update(pj_per_op=self.pj_per_op, pj_per_op_max=self.pj_per_op_max)
        out.update(status=self.status, nJ=self.nJ)
        if self.known:
            out["nJ_max"] = self.nJ_max
        return out


@dataclass
class StaticEnergy(Node):
    """chips x static power per chip x seconds per inference (``hardware.timing.static_energy``)."""

    chips: int
    watts_per_chip: float
    watts_per_chip_max: float
    status: str
    nJ: float  # low power x the short inference
    nJ_max: float  # high power x the long inference


@dataclass
class Energy(Node):
    """Energy per inference in nJ as a range (``hardware.feasibility.energy``); with the static part
    where the profile has static power and the time model."""

    low_nJ: float
    high_nJ: float
    kind: str  # estimate, calibrated estimate, lower bound, upper bound, mixed bounds, partial
    complete: bool
    depends_on_unknown: list[str]
    terms: list[EnergyTerm]
    static: Optional[StaticEnergy] = _omitted_when_none()


@dataclass
class EnergyRange(Node):
    mean: Energy  # of the mean inference
    max: Energy  # of the largest


@dataclass
class Latency(Node):
    timesteps_per_inference: int
    pipeline_layers: int
    first_result_after_steps: int
    steady_state_steps_per_inference: int
    seconds: Optional[float]  # None unless the profile knows the timestep


@dataclass
class CoreWork(Node):
    """One layer's fullest core, per timestep (mean over the inference)."""

    layer: str
    synops: float
    updates: float
    spikes: float


@dataclass
class Timing(Node):
    """The time model's ranges (``hardware.timing.step_time``): seconds per step from the busiest core's
    slowest resource plus the barrier; per inference (T steps, pipelined) and inferences per second.
    Every figure but ``depends_on_unknown`` is None when the profile lacks the barrier or every term."""

    depends_on_unknown: list[str]
    seconds_per_step_low: Optional[float] = None
    seconds_per_step_high: Optional[float] = None
    seconds_per_inference_low: Optional[float] = None
    seconds_per_inference_high: Optional[float] = None
    inferences_per_second_low: Optional[float] = None
    inferences_per_second_high: Optional[float] = None
    first_result_seconds_low: Optional[float] = None
    first_result_seconds_high: Optional[float] = None
    busiest_layer: Optional[str] = None  # at the high end
    binding_term: Optional[str] = None  # synaptic ops, neuron updates or spikes sent
    busiest_layer_low: Optional[str] = None
    binding_term_low: Optional[str] = None
    kind: Optional[str] = None  # estimate, calibrated estimate, partial
    cores: list[CoreWork] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.seconds_per_step_low is not None


@dataclass
class Basis(Node):
    """What the calibrated figures rest on, and how far this network is from it
    (``hardware.calibration.distance``): each ratio is this network's figure over the reference's."""

    network: str
    basis: str
    here: dict[str, float]
    ratios: dict[str, float]
    within_2x: bool


# ---- the report -------------------------------------------------------------------------------------
@dataclass
class Report(Node):
    """report.json. ``chip`` is the source whose counts the memory, energy and summary read; ``activity``
    and ``totals`` hold every source simulated (the chip first, PyTorch as ``torch``)."""

    sim_dir: str
    netx_file: str
    source_run: Optional[str]  # None for a file not exported by tna-deploy
    chip: str
    dataset: str
    samples: int
    timesteps: int
    n_classes: int
    input_encoding: str
    hardware: Profile
    accuracy: dict[str, Optional[float]]  # % per source; None without labels
    parity: Optional[Comparison]  # the chip against PyTorch
    agreements: list[Comparison]  # every other backend against the reference
    layers: list[LayerStatic]
    activity: dict[str, list[LayerActivity]]
    totals: dict[str, Totals]
    ann_macs_per_inference: int
    memory: Memory
    feasibility: Feasibility
    energy: EnergyRange
    latency: Latency
    assumptions: list[str]
    timing: Optional[Timing] = _omitted_when_none()  # absent when the profile has no time model
    basis: Optional[Basis] = _omitted_when_none()  # absent when the profile has no calibration
    tna_deploy_version: str = __version__

    @property
    def agreement(self) -> Optional[Comparison]:
        return self.agreements[0] if self.agreements else None

    def to_dict(self) -> dict:
        body = Node.to_dict(self)
        out = dict(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            tna_deploy_version=body.pop("tna_deploy_version"),
        )
        for key, value in body.items():
            if key == "agreements":
                out["agreement"] = value[0] if value else None
            out[key] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: Any, where: str = REPORT) -> Report:
        """The tree of a report.json object; a report of another format or version is one line."""
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise CheckpointError(
                f"{where}: not a tna-deploy report (field format is not {FORMAT!r})"
            )
        problem = version_problem(raw.get("format_version"), FORMAT_VERSION, "report format", REDO)
        if problem:
            raise CheckpointError(f"{where}: {problem}")
        body = {k: v for k, v in raw.items() if k not in ("format", "format_version", "agreement")}
        comparisons = body.pop("parity", None), body.pop("agreements", [])
        try:
            report = super().from_dict(dict(body, parity=None, agreements=[]))
        except (TypeError, KeyError, ValueError, AttributeError) as e:
            raise CheckpointError(
                f"{where}: not a report this version writes ({e}); {REDO}"
            ) from None
        names, sources = [s.name for s in report.layers], list(report.activity)
        parity, agreements = comparisons
        if parity is not None:
            report.parity = read_comparison(parity, f"{where}: parity", names, sources)
        report.agreements = [
            read_comparison(g, f"{where}: agreements[{i}]", names, sources)
            for i, g in enumerate(agreements if isinstance(agreements, list) else [None])
        ]
        return report


def read(path: str) -> Report:
    """report.json, as the tree ``tna-deploy report`` wrote."""
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read().decode("utf-8"))
    except (ValueError, OSError, RecursionError) as e:
        raise CheckpointError(f"{path}: unreadable report ({type(e).__name__}); {REDO}") from None
    return Report.from_dict(raw, path)
