"""The simulation record: what ``simulate`` hands to ``report``, typed, versioned, with one writer
(``write``, called by simulate) and one reader (``read`` and ``SimResults.read_counts``, called by report).

A simulate folder is an output set (``tna_deploy.atomic``) of
  results.json  format ``tna-deploy-sim``: the run's facts, per source a summary, the comparisons;
  counts.npz    labels; input_counts (K, T); per source S: S_logits (K, classes), S_counts (K, L-1, T)
                spikes per layer but the read-out, S_synops (K, L, T) effective synaptic ops;
  spikes.npz    (``--record spikes``) input (K, *in, T) (the (K, *in) frames with ``--input-drive
                bias``) and S_L{i} (K, *shape, T) rasters;
  state.npz     (``--record current,voltage``) S_current_L{i}, S_voltage_L{i} (K, *shape, T) int32.
The sources are those of ``choices.SOURCES``. This module imports numpy and nothing of torch or Lava."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .. import __version__
from ..checks import Field, check_fields, is_bool, is_int, is_num, is_str, shown
from ..errors import CheckpointError, SimulationError, version_problem
from .choices import BACKENDS, PYTORCH, SOURCE_NAMES, label

FORMAT = "tna-deploy-sim"
FORMAT_VERSION = 3  # 3: the folder is an output set with a manifest (tna_deploy.atomic)
RESULTS = "results.json"
COUNTS = "counts.npz"
SPIKES = "spikes.npz"
STATE = "state.npz"
REDO = "re-run tna-deploy simulate"


# ---- the record ------------------------------------------------------------------------------------
@dataclass
class Summary:
    """One source's outcome on the samples."""

    predictions: list  # per sample: the class of the largest logit
    seconds: float
    samples_per_second: Optional[float]
    accuracy: Optional[float] = None  # % against the labels; absent without labels
    steps: Optional[int] = None  # Lava: the steps its stream ran
    steps_per_second: Optional[float] = None
    run: Optional[str] = None  # PyTorch: the run directory

    @classmethod
    def of(cls, logits: np.ndarray, labels: Optional[np.ndarray], seconds: float, **extra):
        pred = logits.argmax(1)
        n = len(logits)
        return cls(
            predictions=pred.tolist(),
            seconds=round(seconds, 3),
            samples_per_second=round(n / seconds, 2) if seconds > 0 else None,
            accuracy=float((pred == labels).mean() * 100.0) if labels is not None else None,
            **extra,
        )

    def to_dict(self) -> dict:
        out = dict(
            predictions=self.predictions,
            seconds=self.seconds,
            samples_per_second=self.samples_per_second,
        )
        for key in ("accuracy", "steps", "steps_per_second", "run"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class LayerParity:
    layer: str
    mismatched: int  # spikes (sample, neuron, step) that differ
    a_spikes: int
    b_spikes: int

    @property
    def equal(self) -> bool:
        return self.mismatched == 0


@dataclass
class Divergence:
    """The earliest timestep, then the lowest layer, then the first sample where spikes differ."""

    layer: str
    layer_index: int
    timestep: int
    sample: int


@dataclass
class Comparison:
    """Source ``a`` against source ``b`` on the same samples; its names come from the pair itself."""

    a: str
    b: str
    samples: int
    prediction_agreement_pct: float
    logits_max_abs_diff: float
    spike_counts_equal: bool
    per_layer: list  # [LayerParity] for every layer but the read-out
    first_divergence: Optional[Divergence] = None

    @property
    def compared(self) -> str:
        return f"{self.a} vs {self.b}"

    @property
    def label(self) -> str:
        """The pair as a report names it ("Lava vs emulator", "onnxruntime vs PyTorch")."""
        return f"{label(self.a)} vs {label(self.b)}"

    @property
    def logits_equal(self) -> bool:
        return self.logits_max_abs_diff == 0.0

    @property
    def spikes_equal(self) -> bool:
        return all(r.equal for r in self.per_layer)

    def to_dict(self) -> dict:
        d = self.first_divergence
        return dict(
            compared=self.compared,
            samples=self.samples,
            prediction_agreement_pct=self.prediction_agreement_pct,
            logits_equal=self.logits_equal,
            logits_max_abs_diff=self.logits_max_abs_diff,
            spikes_equal=self.spikes_equal,
            spike_counts_equal=self.spike_counts_equal,
            per_layer=[
                {
                    "layer": r.layer,
                    "equal": r.equal,
                    "mismatched": r.mismatched,
                    f"{self.a}_spikes": r.a_spikes,
                    f"{self.b}_spikes": r.b_spikes,
                }
                for r in self.per_layer
            ],
            first_divergence=None
            if d is None
            else dict(
                layer_index=d.layer_index, timestep=d.timestep, sample=d.sample, layer=d.layer
            ),
        )


TIMING = ("seconds", "comparison", "counting")


@dataclass
class Timing:
    """Where ``simulate``'s wall time went, in seconds (each backend's own is in its summary, PyTorch's
    there too): ``seconds`` from the start to the record (writing it excluded), and the parts of the
    chunk loop beside the sources: ``comparison`` (parity and agreements), ``counting`` (spike counts
    and synaptic ops of every source)."""

    seconds: float
    comparison: float = 0.0
    counting: float = 0.0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in TIMING}


@dataclass
class SimResults:
    """results.json."""

    file: str  # the simulated file, absolute
    file_sha256: str
    dataset: Optional[str]  # None for --input spikes
    input: Optional[str]  # the --input file, absolute
    samples: int
    timesteps: int
    input_bits: int
    input_max: int  # above 1: graded input, so the first layer does MACs
    layers: list  # compute layer names
    backends: list  # in --backend order; the first is the chip whose counts the report reads
    labels: Optional[list]
    summaries: dict  # source name -> Summary, for every backend and PyTorch when it ran
    parity: Optional[Comparison] = None  # the chip against PyTorch (--run)
    agreements: list = field(default_factory=list)  # every other backend against the reference
    tna_deploy_version: str = __version__
    timing: Optional[Timing] = None  # absent from older records

    @property
    def chip(self) -> str:
        return self.backends[0]

    @property
    def agreement(self) -> Optional[Comparison]:
        return self.agreements[0] if self.agreements else None

    def to_dict(self) -> dict:
        out = dict(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            tna_deploy_version=self.tna_deploy_version,
            file=self.file,
            file_sha256=self.file_sha256,
            dataset=self.dataset,
            input=self.input,
            samples=self.samples,
            timesteps=self.timesteps,
            input_bits=self.input_bits,
            input_max=self.input_max,
            layers=list(self.layers),
            chip=self.chip,
            backends=list(self.backends),
            labels=self.labels,
        )
        out.update({name: s.to_dict() for name, s in self.summaries.items()})
        if self.parity is not None:
            out["parity"] = self.parity.to_dict()
        if self.agreements:
            out["agreements"] = [g.to_dict() for g in self.agreements]
            out["agreement"] = out["agreements"][0]
        if self.timing is not None:
            out["timing"] = self.timing.to_dict()
        return out

    def read_counts(self, sim_dir: str, neurons: list, path: str) -> "Counts":
        """counts.npz, each array checked against the network's layers (``neurons``, per compute layer, of
        the file ``path``, whose layer names are this record's) before its data is read."""
        return _read_counts(os.path.join(sim_dir, COUNTS), self, neurons, path)


@dataclass
class SourceCounts:
    logits: np.ndarray  # (K, classes)
    counts: np.ndarray  # (K, L-1, T) spikes per step of every layer but the read-out
    synops: np.ndarray  # (K, L, T) effective synaptic ops per step of every layer


@dataclass
class Counts:
    """counts.npz."""

    input_counts: np.ndarray  # (K, T) nonzero inputs per step
    sources: dict  # source name -> SourceCounts
    labels: Optional[np.ndarray] = None

    def arrays(self) -> dict:
        out = {"input_counts": self.input_counts}
        if self.labels is not None:
            out["labels"] = self.labels
        for name, c in self.sources.items():
            out.update(
                {f"{name}_logits": c.logits, f"{name}_counts": c.counts, f"{name}_synops": c.synops}
            )
        return out


@dataclass
class Recorded:
    """What ``--record`` kept: spikes.npz and / or state.npz."""

    input: Optional[np.ndarray] = None  # spikes recorded: the input rasters (K, *in, T)
    spikes: dict = field(default_factory=dict)  # source name -> per layer (K, *shape, T)
    state: Optional[dict] = None  # state recorded: source name -> {"current"|"voltage": per layer}

    def files(self) -> list:
        out = []
        if self.input is not None:
            rasters = {"input": self.input}
            for name, layers in self.spikes.items():
                rasters.update({f"{name}_L{i}": a for i, a in enumerate(layers)})
            out.append((SPIKES, rasters))
        if self.state is not None:
            arrays = {
                f"{name}_{kind}_L{i}": a
                for name, kinds in self.state.items()
                for kind, layers in kinds.items()
                for i, a in enumerate(layers)
            }
            out.append((STATE, arrays))
        return out


# ---- the writer ------------------------------------------------------------------------------------
def write(
    out_dir: str, results: SimResults, counts: Counts, recorded: Optional[Recorded] = None
) -> None:
    """The output set (results.json, counts.npz, the recorded .npz), complete with its manifest or not at
    all. If ``out_dir`` cannot take it (a full disk, a folder made read-only meanwhile), the set goes to a
    new temp folder instead and the error says where, so a long run is never thrown away."""
    files = [(COUNTS, counts.arrays())] + (recorded.files() if recorded else [])
    text = json.dumps(results.to_dict(), indent=2, sort_keys=True) + "\n"
    try:
        _write_set(out_dir, files, text)
    except OSError as e:
        import tempfile

        rescue = tempfile.mkdtemp(prefix="tna-sim-")
        try:
            _write_set(rescue, files, text)
        except OSError:
            import shutil

            shutil.rmtree(rescue, ignore_errors=True)
            raise SimulationError(
                f"--out {out_dir}: could not write the results ({e.strerror or e}), nor to "
                f"{rescue}; free some space and re-run"
            ) from None
        raise SimulationError(
            f"--out {out_dir}: could not write the results ({e.strerror or e}); they are "
            f"complete in {rescue}: move that folder where you want it"
        ) from None


def _write_set(folder: str, files: list, text: str) -> None:
    from ..atomic import OutputSet, write_npz

    with OutputSet(folder, "simulate") as out:
        for name, content in files:
            out.write(name, lambda f, c=content: write_npz(f, c))
        out.write(RESULTS, lambda f: f.write(text.encode()))
        out.close()


# ---- the reader ------------------------------------------------------------------------------------
def read(sim_dir: str) -> SimResults:
    """results.json of a simulate folder, every field checked (and counts.npz present)."""
    rpath, cpath = os.path.join(sim_dir, RESULTS), os.path.join(sim_dir, COUNTS)
    for p in (rpath, cpath):
        if not os.path.isfile(p):
            raise CheckpointError(
                f"{p}: missing; run tna-deploy simulate ... --out {sim_dir} first"
            )
    try:
        with open(rpath, "rb") as f:
            raw = json.loads(f.read().decode("utf-8"))
    except (ValueError, OSError, RecursionError) as e:
        raise CheckpointError(
            f"{rpath}: unreadable simulation results ({type(e).__name__}); {REDO}"
        ) from None
    return _parse(raw, rpath)


def _check(record: Any, where: str, fields: dict) -> None:
    check_fields(record, fields, where, CheckpointError, REDO)


def _strings(v) -> bool:
    return isinstance(v, list) and all(is_str(x) for x in v)


def _ints(n: int):
    return lambda v: isinstance(v, list) and len(v) == n and all(is_int(x) for x in v)


def _count(v) -> bool:
    return is_int(v) and v >= 0


def _pair(v) -> Optional[tuple]:
    """(a, b) of a comparison's ``compared`` ("lava vs emulator"), or None."""
    parts = v.split(" vs ") if is_str(v) else []
    ok = len(parts) == 2 and parts[0] != parts[1] and all(p in SOURCE_NAMES for p in parts)
    return tuple(parts) if ok else None


def _parse(raw: Any, rpath: str) -> SimResults:
    if not isinstance(raw, dict):
        raise CheckpointError(
            f"{rpath}: a JSON {type(raw).__name__}, expected the object tna-deploy simulate "
            f"writes; {REDO}"
        )
    if raw.get("format") != FORMAT:
        raise CheckpointError(
            f"{rpath}: not tna-deploy simulation results (field format is "
            f"{str(raw.get('format'))[:40]!r}, expected {FORMAT!r})"
        )
    problem = version_problem(raw.get("format_version"), FORMAT_VERSION, "simulation format", REDO)
    if problem:
        raise CheckpointError(f"{rpath}: {problem}")
    _check(
        raw,
        rpath,
        {
            "file": Field(lambda v: is_str(v) and v != "", "the path of the simulated file"),
            "backends": Field(
                lambda v: (
                    _strings(v) and len(v) > 0 and len(set(v)) == len(v) and set(v) <= set(BACKENDS)
                ),
                f"a list of backend names, each once, of {', '.join(BACKENDS)}",
            ),
            "samples": Field(lambda v: is_int(v) and v >= 1, "a number of samples >= 1"),
            "timesteps": Field(lambda v: is_int(v) and v >= 1, "a number of timesteps >= 1"),
            "layers": Field(lambda v: _strings(v) and len(v) > 0, "the list of layer names"),
            "dataset": Field(is_str, "a dataset name or null", nullable=True),
            "input": Field(is_str, "the path of the --input file or null", nullable=True),
            "input_bits": Field(lambda v: is_int(v) and 0 <= v <= 24, "an integer in 0..24"),
            "input_max": Field(lambda v: _count(v), "the largest input value (an integer >= 0)"),
            "file_sha256": Field(is_str, "the SHA-256 of the simulated file"),
            "tna_deploy_version": Field(is_str, "a version string"),
        },
    )
    n, layers, backends = raw["samples"], raw["layers"], raw["backends"]
    _check(
        raw,
        rpath,
        {
            "chip": Field(lambda v: v == backends[0], f"its first backend {shown(backends[0])}"),
            "labels": Field(_ints(n), f"{n} integer labels or null", nullable=True),
        },
    )
    ran = list(backends) + [s for s in SOURCE_NAMES if s in raw and s not in backends]
    summaries = {s: _summary(raw, s, rpath, n) for s in ran}
    _check(
        raw,
        rpath,
        {
            "parity": Field(lambda v: isinstance(v, dict), "a comparison (an object)", True, True),
            "agreements": Field(
                lambda v: isinstance(v, list) and all(isinstance(g, dict) for g in v),
                "a list of comparisons (objects)",
                optional=True,
            ),
            "timing": Field(_timing, "seconds per part (an object of numbers)", optional=True),
        },
    )
    parity = raw.get("parity")
    return SimResults(
        file=raw["file"],
        file_sha256=raw["file_sha256"],
        dataset=raw["dataset"],
        input=raw["input"],
        samples=n,
        timesteps=raw["timesteps"],
        input_bits=raw["input_bits"],
        input_max=raw["input_max"],
        layers=layers,
        backends=backends,
        labels=raw["labels"],
        summaries=summaries,
        parity=None
        if parity is None
        else read_comparison(parity, f"{rpath}: parity", layers, [backends[0], PYTORCH]),
        agreements=[
            read_comparison(g, f"{rpath}: agreements[{i}]", layers, backends)
            for i, g in enumerate(raw.get("agreements", []))
        ],
        tna_deploy_version=raw["tna_deploy_version"],
        timing=Timing(*(raw["timing"][k] for k in TIMING)) if "timing" in raw else None,
    )


def _timing(v) -> bool:
    return isinstance(v, dict) and all(is_num(v.get(k)) and v[k] >= 0 for k in TIMING)


def _summary(raw: dict, name: str, rpath: str, n: int) -> Summary:
    _check(
        raw,
        rpath,
        {name: Field(lambda v: isinstance(v, dict), "the backend's summary (an object)")},
    )
    s = raw[name]
    _check(
        s,
        f"{rpath}: {name}",
        {
            "predictions": Field(_ints(n), f"{n} predicted classes"),
            "seconds": Field(lambda v: is_num(v) and v >= 0, "a number of seconds"),
            "samples_per_second": Field(
                lambda v: is_num(v) and v >= 0, "a rate or null", nullable=True
            ),
            "accuracy": Field(
                lambda v: is_num(v) and 0 <= v <= 100, "a percentage or null", True, True
            ),
            "steps": Field(_count, "a number of steps", optional=True),
            "steps_per_second": Field(lambda v: is_num(v) and v >= 0, "a rate", optional=True),
            "run": Field(is_str, "the run directory", optional=True),
        },
    )
    return Summary(
        predictions=s["predictions"],
        seconds=s["seconds"],
        samples_per_second=s["samples_per_second"],
        **{k: s.get(k) for k in ("accuracy", "steps", "steps_per_second", "run")},
    )


def read_comparison(g: Any, where: str, layers: list, sources: list) -> Comparison:
    """One comparison of two of ``sources`` (the simulated sources) over ``layers`` but the read-out; the
    report reads the comparisons it carries with it too."""
    _check(
        g,
        where,
        {
            "compared": Field(
                lambda v: (p := _pair(v)) is not None and set(p) <= set(sources),
                f"'A vs B' with A and B two of {', '.join(sources)}",
            ),
            "samples": Field(_count, "a number of samples"),
            "prediction_agreement_pct": Field(
                lambda v: is_num(v) and 0 <= v <= 100, "a percentage"
            ),
            "logits_equal": Field(is_bool, "true or false"),
            "logits_max_abs_diff": Field(lambda v: is_num(v) and v >= 0, "a difference >= 0"),
            "spikes_equal": Field(is_bool, "true or false"),
            "spike_counts_equal": Field(is_bool, "true or false"),
            "per_layer": Field(
                lambda v: isinstance(v, list) and len(v) == len(layers) - 1,
                f"a list of {len(layers) - 1} layers (all but the read-out)",
            ),
            "first_divergence": Field(
                lambda v: isinstance(v, dict), "null or {layer, timestep, sample}", nullable=True
            ),
        },
    )
    a, b = _pair(g["compared"])
    rows = []
    for i, (r, name) in enumerate(zip(g["per_layer"], layers)):
        _check(
            r,
            f"{where}: per_layer[{i}]",
            {
                "layer": Field(lambda v, want=name: v == want, repr(name)),
                "mismatched": Field(_count, "a number of spikes"),
                f"{a}_spikes": Field(_count, "a number of spikes"),
                f"{b}_spikes": Field(_count, "a number of spikes"),
            },
        )
        rows.append(LayerParity(name, r["mismatched"], r[f"{a}_spikes"], r[f"{b}_spikes"]))
    d = g["first_divergence"]
    first = None
    if d is not None:
        _check(
            d,
            f"{where}: first_divergence",
            {
                "layer_index": Field(
                    lambda v: is_int(v) and 0 <= v < len(layers) - 1, "a layer index"
                ),
                "timestep": Field(_count, "a timestep"),
                "sample": Field(_count, "a sample index"),
                "layer": Field(
                    lambda v: v == layers[d["layer_index"]], "the name of its layer_index"
                ),
            },
        )
        first = Divergence(d["layer"], d["layer_index"], d["timestep"], d["sample"])
    return Comparison(
        a,
        b,
        samples=g["samples"],
        prediction_agreement_pct=g["prediction_agreement_pct"],
        logits_max_abs_diff=g["logits_max_abs_diff"],
        spike_counts_equal=g["spike_counts_equal"],
        per_layer=rows,
        first_divergence=first,
    )


def _expected(results: SimResults, neurons: list) -> dict:
    """name: (shape, dtype kinds) of every array counts.npz may hold for this record and network."""
    n, t, n_layers = results.samples, results.timesteps, len(neurons)
    want = {"input_counts": ((n, t), "iu"), "labels": ((n,), "iu")}
    for src in SOURCE_NAMES:
        want.update(
            {
                f"{src}_synops": ((n, n_layers, t), "iu"),
                f"{src}_counts": ((n, n_layers - 1, t), "iu"),
                f"{src}_logits": ((n, neurons[-1]), "iuf"),
            }
        )
    return want


def _read_counts(cpath: str, results: SimResults, neurons: list, path: str) -> Counts:
    """Each array's header checked against the shape and type the network and results.json give it before
    its data is read (a damaged header cannot make the report allocate more)."""
    import struct
    import zipfile
    import zlib

    want = _expected(results, neurons)
    redo = "re-run tna-deploy simulate, or give the file it ran with --netx"
    arrays = {}
    try:
        with zipfile.ZipFile(cpath) as z:
            members = {m[:-4]: m for m in z.namelist() if m.endswith(".npy")}
            for name, member in members.items():
                if name not in want:
                    continue  # not an array the report reads
                shape, kinds = want[name]
                with z.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )(f)
                    got, fortran, dtype = header
                    if dtype.kind not in kinds or dtype.hasobject or got != shape:
                        raise CheckpointError(
                            f"{cpath}: array {name} is {dtype} of shape {got}, expected "
                            f"{'integers' if kinds == 'iu' else 'numbers'} of shape {shape} "
                            f"({results.samples} samples, {results.timesteps} timesteps, "
                            f"the layers of {path}); {redo}"
                        )
                    size = int(np.prod(shape)) * dtype.itemsize
                    data = f.read(size)
                if len(data) != size:
                    raise CheckpointError(f"{cpath}: array {name} is truncated; {REDO}")
                a = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
                if kinds == "iu" and a.size and int(a.min()) < 0:
                    raise CheckpointError(f"{cpath}: array {name} holds negative counts; {REDO}")
                arrays[name] = a
    except CheckpointError:
        raise
    except (
        ValueError,
        OSError,
        EOFError,
        KeyError,
        zipfile.BadZipFile,
        zlib.error,
        struct.error,
        NotImplementedError,
        RuntimeError,
        MemoryError,
        OverflowError,
    ) as e:  # a damaged zip or .npy header
        raise CheckpointError(
            f"{cpath}: unreadable simulation counts ({type(e).__name__}); {REDO}"
        ) from None
    chip = results.chip
    for key in (f"{chip}_synops", f"{chip}_counts", "input_counts"):
        if key not in arrays:
            raise CheckpointError(
                f"{cpath}: array {key} is missing (the report reads {chip}_synops, {chip}_counts "
                f"and input_counts); {REDO}"
            )
    sources = {}
    for src in SOURCE_NAMES:
        keys = (f"{src}_logits", f"{src}_counts", f"{src}_synops")
        have = [k for k in keys if k in arrays]
        if have and len(have) < 3:
            raise CheckpointError(
                f"{cpath}: holds {', '.join(have)} but not all of {src}_synops, {src}_counts, "
                f"{src}_logits; {REDO}"
            )
        if not have:
            continue
        counts = arrays[f"{src}_counts"]
        for j, (name, size) in enumerate(zip(results.layers[:-1], neurons[:-1])):
            if counts.size and int(counts[:, j].max()) > size:
                raise CheckpointError(
                    f"{cpath}: array {src}_counts has {int(counts[:, j].max())} spikes in one "
                    f"step of layer {name}, which has {size} neurons in {path}; "
                    f"give the file the simulation ran with --netx"
                )
        sources[src] = SourceCounts(*(arrays[k] for k in keys))
    return Counts(arrays["input_counts"], sources, arrays.get("labels"))
