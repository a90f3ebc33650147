"""Assemble the report (a plain dict, schema in docs/report-schema.md) from a simulate output folder."""

from __future__ import annotations

import json
import math
import os
from typing import Optional

import numpy as np

from .. import __version__
from ..atomic import file_sha256
from ..errors import CheckpointError, version_problem
from ..hardware.counts import layer_activity, static_counts
from ..hardware.feasibility import ASSUMPTIONS, energy, feasibility
from ..hardware.profile import load_profile
from ..ir import read_model
from ..simulate.run import COUNTS, RESULTS
from ..simulate.run import FORMAT as SIM_FORMAT
from ..simulate.run import FORMAT_VERSION as SIM_VERSION

FORMAT = "tna-deploy-report"
FORMAT_VERSION = 2


def _load_results(sim_dir: str) -> dict:
    """results.json of a simulate folder, every field the report reads checked (counts.npz must exist)."""
    rpath, cpath = os.path.join(sim_dir, RESULTS), os.path.join(sim_dir, COUNTS)
    for p in (rpath, cpath):
        if not os.path.isfile(p):
            raise CheckpointError(
                f"{p}: missing; run tna-deploy simulate ... --out {sim_dir} first"
            )
    try:
        with open(rpath, "rb") as f:
            results = json.loads(f.read().decode("utf-8"))
    except (ValueError, OSError, RecursionError) as e:
        raise CheckpointError(
            f"{rpath}: unreadable simulation results ({type(e).__name__}); re-run simulate"
        ) from None
    _check_results(results, rpath)
    return results


_SOURCES = ("lava", "emulator", "onnx", "torch")


def _expected_arrays(results: dict, net) -> dict:
    """name: (shape, dtype kinds) of every array simulate writes to counts.npz for this network."""
    n, t, n_layers = results["samples"], results["timesteps"], len(net.compute_layers)
    want = {"input_counts": ((n, t), "iu"), "labels": ((n,), "iu")}
    for src in _SOURCES:
        want.update(
            {
                f"{src}_synops": ((n, n_layers, t), "iu"),
                f"{src}_counts": ((n, n_layers - 1, t), "iu"),
                f"{src}_logits": ((n, net.compute_layers[-1].neurons), "iuf"),
            }
        )
    return want


def _load_counts(cpath: str, results: dict, net, path: str) -> dict:
    """counts.npz: each array's header checked against the shape and type this network and results.json
    give it before its data is read (a damaged header cannot make the report allocate more)."""
    import struct
    import zipfile
    import zlib

    want = _expected_arrays(results, net)
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
                            f"({results['samples']} samples, {results['timesteps']} timesteps, "
                            f"the layers of {path}); {redo}"
                        )
                    size = int(np.prod(shape)) * dtype.itemsize
                    data = f.read(size)
                if len(data) != size:
                    raise CheckpointError(
                        f"{cpath}: array {name} is truncated; re-run tna-deploy simulate"
                    )
                a = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
                if kinds == "iu" and a.size and int(a.min()) < 0:
                    raise CheckpointError(
                        f"{cpath}: array {name} holds negative counts; re-run tna-deploy simulate"
                    )
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
            f"{cpath}: unreadable simulation counts ({type(e).__name__}); re-run tna-deploy "
            f"simulate"
        ) from None
    chip = results["chip"]
    for key in (f"{chip}_synops", f"{chip}_counts", "input_counts"):
        if key not in arrays:
            raise CheckpointError(
                f"{cpath}: array {key} is missing (the report reads {chip}_synops, {chip}_counts "
                f"and input_counts); re-run tna-deploy simulate"
            )
    for src in _SOURCES:
        have = [k for k in (f"{src}_synops", f"{src}_counts", f"{src}_logits") if k in arrays]
        if have and len(have) < 3:
            raise CheckpointError(
                f"{cpath}: holds {', '.join(have)} but not all of {src}_synops, {src}_counts, "
                f"{src}_logits; re-run tna-deploy simulate"
            )
        if have:
            counts = arrays[f"{src}_counts"]
            for j, layer in enumerate(net.compute_layers[:-1]):
                if counts.size and int(counts[:, j].max()) > layer.neurons:
                    raise CheckpointError(
                        f"{cpath}: array {src}_counts has {int(counts[:, j].max())} spikes in one "
                        f"step of layer {layer.name}, which has {layer.neurons} neurons in {path}; "
                        f"give the file the simulation ran with --netx"
                    )
    return arrays


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check(
    d: dict, where: str, key: str, ok, expected: str, optional: bool = False, nullable: bool = False
) -> None:
    """``d[key]`` passes ``ok``; it may be absent when ``optional``, and null when ``nullable``."""
    if (key not in d and optional) or (key in d and d[key] is None and nullable):
        return
    if key not in d:
        raise CheckpointError(
            f"{where}: field {key} is missing (expected {expected}); re-run tna-deploy simulate"
        )
    if not ok(d[key]):
        shown = repr(d[key]) if len(repr(d[key])) <= 40 else f"a {type(d[key]).__name__}"
        raise CheckpointError(
            f"{where}: field {key} is {shown}, expected {expected}; re-run tna-deploy simulate"
        )


_COMPARISON = (
    ("samples", lambda v: _is_int(v) and v >= 0, "a number of samples"),
    ("prediction_agreement_pct", _is_num, "a percentage"),
    ("logits_equal", lambda v: isinstance(v, bool), "true or false"),
    ("spikes_equal", lambda v: isinstance(v, bool), "true or false"),
    (
        "first_divergence",
        lambda v: (
            v is None
            or (
                isinstance(v, dict)
                and isinstance(v.get("layer"), str)
                and _is_int(v.get("timestep"))
                and _is_int(v.get("sample"))
            )
        ),
        "null or {layer, timestep, sample}",
    ),
)


def _check_results(results, rpath: str) -> None:
    """Every field of results.json the report reads, with its type; the format version first."""
    if not isinstance(results, dict):
        raise CheckpointError(
            f"{rpath}: a JSON {type(results).__name__}, expected the object tna-deploy simulate "
            f"writes; re-run tna-deploy simulate"
        )
    if results.get("format") != SIM_FORMAT:
        raise CheckpointError(
            f"{rpath}: not tna-deploy simulation results (field format is "
            f"{str(results.get('format'))[:40]!r}, expected {SIM_FORMAT!r})"
        )
    problem = version_problem(
        results.get("format_version"),
        SIM_VERSION,
        "simulation format",
        "re-run tna-deploy simulate",
    )
    if problem:
        raise CheckpointError(f"{rpath}: {problem}")
    strings = lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)  # noqa: E731
    _check(
        results,
        rpath,
        "file",
        lambda v: isinstance(v, str) and v != "",
        "the path of the simulated file",
    )
    _check(
        results, rpath, "backends", lambda v: strings(v) and len(v) > 0, "a list of backend names"
    )
    _check(
        results,
        rpath,
        "chip",
        lambda v: v in results["backends"],
        f"one of its backends {results['backends']}",
    )
    _check(results, rpath, "samples", lambda v: _is_int(v) and v >= 1, "a number of samples >= 1")
    _check(
        results, rpath, "timesteps", lambda v: _is_int(v) and v >= 1, "a number of timesteps >= 1"
    )
    _check(results, rpath, "layers", lambda v: strings(v) and len(v) > 0, "the list of layer names")
    _check(
        results,
        rpath,
        "dataset",
        lambda v: isinstance(v, str),
        "a dataset name or null",
        optional=True,
        nullable=True,
    )
    _check(
        results,
        rpath,
        "input_bits",
        lambda v: _is_int(v) and 0 <= v <= 24,
        "an integer in 0..24",
        optional=True,
    )
    _check(
        results,
        rpath,
        "input_max",
        lambda v: _is_num(v) and v >= 0,
        "the largest input value",
        optional=True,
    )
    for b in dict.fromkeys(results["backends"] + list(_SOURCES)):
        _check(
            results,
            rpath,
            b,
            lambda v: isinstance(v, dict),
            "the backend's summary (an object)",
            optional=b not in results["backends"],
        )
        if isinstance(results.get(b), dict):
            _check(
                results[b],
                f"{rpath}: {b}",
                "accuracy",
                lambda v: _is_num(v) and 0 <= v <= 100,
                "a percentage or null",
                optional=True,
                nullable=True,
            )
    for key in ("parity", "agreement"):
        _check(
            results,
            rpath,
            key,
            lambda v: isinstance(v, dict),
            "a comparison (an object)",
            optional=True,
            nullable=True,
        )
        if results.get(key) is not None:
            for field, ok, expected in _COMPARISON:
                _check(results[key], f"{rpath}: {key}", field, ok, expected)


def _check_against(net, results: dict, path: str, sim_dir: str) -> None:
    """The network's layers are the ones simulated (names, and the dataset and T it was exported for)."""
    names = [layer.name for layer in net.compute_layers]
    if names != results["layers"]:
        raise CheckpointError(
            f"{path} does not match the simulation in {sim_dir}: its layers are {names}, the "
            f"simulation ran {results['layers']}; give the file it ran with --netx"
        )
    meta = net.meta
    if (
        meta
        and results.get("dataset") is not None
        and (meta["dataset"], meta["timesteps"]) != (results["dataset"], results["timesteps"])
    ):
        raise CheckpointError(
            f"{path} does not match the simulation in {sim_dir}: it was exported for "
            f"{meta['dataset']} at T={meta['timesteps']}, the simulation ran {results['dataset']} at "
            f"T={results['timesteps']}; give the file it ran with --netx"
        )


def _activity(
    compute_layers, arrays: dict, source: str, timesteps: int, graded: bool
) -> Optional[list]:
    """Per compute layer: the source's measured synaptic ops and spikes in and out (read-out: none out).
    An input layer with its own neuron has no synaptic ops; its spikes are what the next layer receives."""
    if f"{source}_synops" not in arrays:
        return None
    syn, counts = arrays[f"{source}_synops"], arrays[f"{source}_counts"]
    rows = []
    for i, layer in enumerate(compute_layers):
        spikes_in = arrays["input_counts"] if i == 0 else counts[:, i - 1]
        spikes_out = counts[:, i] if i < len(compute_layers) - 1 else None
        rows.append(
            dict(
                layer=layer.name,
                **layer_activity(
                    layer, syn[:, i], spikes_in, spikes_out, graded and i == 0, timesteps
                ),
            )
        )
    return rows


def _totals(activity: list) -> dict:
    return dict(
        synops_per_inference_mean=sum(a["synops"]["per_inference_mean"] for a in activity),
        synops_per_inference_max=sum(a["synops"]["per_inference_max"] for a in activity),
        synops_dense_per_inference=sum(a["synops_dense_per_inference"] for a in activity),
        spikes_per_inference_mean=sum(a["spikes_out"]["per_inference_mean"] for a in activity),
        spikes_per_inference_max=sum(a["spikes_out"]["per_inference_max"] for a in activity),
        neuron_updates_per_inference=sum(a["neuron_updates_per_inference"] for a in activity),
        macs=sum(a["synops"]["per_inference_mean"] for a in activity if a["op_type"] == "MAC"),
        acs=sum(a["synops"]["per_inference_mean"] for a in activity if a["op_type"] == "AC"),
    )


def build_report(sim_dir: str, hardware: str = "loihi2", netx_path: Optional[str] = None) -> dict:
    """The report of a ``simulate`` folder: the chip backend's counts (the emulator's or Lava's, read
    the same way), PyTorch's beside them when simulated, on the IR of the netx file."""
    results = _load_results(sim_dir)
    profile = load_profile(hardware)
    path = netx_path or results["file"]
    if not netx_path and not os.path.isfile(path):
        raise CheckpointError(
            f"{os.path.join(sim_dir, RESULTS)}: field file names {path}, which does not exist; "
            f"give the file the simulation ran with --netx"
        )
    net = read_model(path)  # a damaged file is named by its reader first
    layers = net.compute_layers  # an input layer with its own neuron too: neurons, updates, cores
    _check_against(net, results, path, sim_dir)  # then another network's layers, by name
    digest = results.get("file_sha256")  # then any other file, even with the same layers
    if isinstance(digest, str) and file_sha256(path) != digest:
        raise CheckpointError(
            f"{path} is not the file the simulation in {sim_dir} ran (its SHA-256 differs: "
            f"re-exported or another network); give that file with --netx, or re-run simulate"
        )
    arrays = _load_counts(os.path.join(sim_dir, COUNTS), results, net, path)
    t = results["timesteps"]
    chip = results["chip"]
    graded = results.get("input_max", 2) > 1
    statics = [static_counts(layer) for layer in layers]
    activity = {
        src: a
        for src in dict.fromkeys((chip, "lava", "emulator", "torch"))
        if (a := _activity(net.compute_layers, arrays, src, t, graded)) is not None
    }
    totals = {src: _totals(a) for src, a in activity.items()}
    main = totals[chip]
    mem_chip = sum(s["weight_bytes_chip"] for s in statics)
    mem_fp32 = sum(s["weight_bytes_fp32"] for s in statics)
    mem_int8 = sum(s["weight_bytes_int8"] for s in statics)
    meta = net.meta
    pipeline = sum(
        1 for layer in layers if layer.kind != "input"
    )  # an input neuron takes its input in the same step
    return dict(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        tna_deploy_version=__version__,
        sim_dir=sim_dir,
        netx_file=path,
        source_run=meta.get("source_run"),
        chip=chip,
        dataset=results.get("dataset") or "raw input",
        samples=results["samples"],
        timesteps=t,
        n_classes=net.n_classes,
        input_encoding=meta.get("input_encoding", f"{results.get('input_bits', 0)}-bit input"),
        hardware=profile.to_dict(),
        accuracy={src: results.get(src, {}).get("accuracy") for src in activity},
        parity=results.get("parity"),
        agreement=results.get("agreement"),
        layers=statics,
        activity=activity,
        totals=totals,
        ann_macs_per_inference=sum(s["ann_macs"] for s in statics),
        memory=dict(
            chip_bytes=mem_chip,
            int8_bytes=mem_int8,
            fp32_bytes=mem_fp32,
            compression_vs_fp32=mem_fp32 / mem_chip,
            compression_vs_int8=mem_int8 / mem_chip,
            neurons=sum(s["neurons"] for s in statics),
            synapses=sum(s["synapses"] for s in statics),
            nonzero_synapses=sum(s["nonzero_synapses"] for s in statics),
        ),
        feasibility=feasibility(statics, profile, net.input_bits),
        energy=dict(
            mean=energy(
                main["synops_per_inference_mean"],
                main["neuron_updates_per_inference"],
                main["spikes_per_inference_mean"],
                profile,
            ),
            max=energy(
                main["synops_per_inference_max"],
                main["neuron_updates_per_inference"],
                main["spikes_per_inference_max"],
                profile,
            ),
        ),
        latency=dict(
            timesteps_per_inference=t,
            pipeline_layers=pipeline,
            first_result_after_steps=t + pipeline,
            steady_state_steps_per_inference=t,
            seconds=None
            if not profile["timestep_seconds"].known
            else t * profile["timestep_seconds"].value,
        ),
        assumptions=ASSUMPTIONS,
    )
