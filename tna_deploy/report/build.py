"""Assemble the report (the typed tree of ``model``; report.json's schema in docs/report-schema.md) from a
simulate output folder, read through the simulation record's one reader (``tna_deploy.simulate.results``)."""

from __future__ import annotations

import os
from typing import Optional

from ..atomic import file_sha256
from ..errors import CheckpointError
from ..hardware.calibration import distance, reference
from ..hardware.counts import layer_activity, static_counts
from ..hardware.feasibility import ASSUMPTIONS, COMPILER_ASSUMPTIONS, energy, feasibility
from ..hardware.profile import load_profile
from ..hardware.timing import core_work, static_energy, step_time
from ..ir import read_model
from ..simulate import results as sim
from ..simulate.choices import SOURCE_NAMES
from .model import (
    Basis,
    Energy,
    EnergyRange,
    Feasibility,
    Latency,
    LayerActivity,
    LayerStatic,
    Memory,
    Report,
    Timing,
    Totals,
)


def _check_against(net, results: sim.SimResults, path: str, sim_dir: str) -> None:
    """The network's layers are the ones simulated (names, and the dataset and T it was exported for)."""
    names = [layer.name for layer in net.compute_layers]
    if names != results.layers:
        raise CheckpointError(
            f"{path} does not match the simulation in {sim_dir}: its layers are {names}, the "
            f"simulation ran {results.layers}; give the file it ran with --netx"
        )
    meta = net.meta
    if (
        meta
        and results.dataset is not None
        and (meta["dataset"], meta["timesteps"]) != (results.dataset, results.timesteps)
    ):
        raise CheckpointError(
            f"{path} does not match the simulation in {sim_dir}: it was exported for "
            f"{meta['dataset']} at T={meta['timesteps']}, the simulation ran {results.dataset} at "
            f"T={results.timesteps}; give the file it ran with --netx"
        )


def _activity(
    compute_layers, counts: sim.Counts, source: str, timesteps: int, graded: bool
) -> Optional[list[LayerActivity]]:
    """Per compute layer: the source's measured synaptic ops and spikes in and out (read-out: none out).
    An input layer with its own neuron has no synaptic ops; its spikes are what the next layer receives."""
    if source not in counts.sources:
        return None
    syn, spikes = counts.sources[source].synops, counts.sources[source].counts
    rows = []
    for i, layer in enumerate(compute_layers):
        spikes_in = counts.input_counts if i == 0 else spikes[:, i - 1]
        spikes_out = spikes[:, i] if i < len(compute_layers) - 1 else None
        # graded input: the file's (first layer), or a sigma-delta layer's graded spikes
        takes_graded = (
            graded if i == 0 else getattr(compute_layers[i - 1].neuron, "message_bits", 0) > 0
        )
        measured = layer_activity(layer, syn[:, i], spikes_in, spikes_out, takes_graded, timesteps)
        rows.append(LayerActivity.from_dict(dict(layer=layer.name, **measured)))
    return rows


def _work(feas: dict, activity: list[LayerActivity], timesteps: int) -> list[dict]:
    """Each layer's fullest core per timestep, where the mapper gave its share; else none."""
    rows = []
    for c, a in zip(feas["per_layer"], activity):
        if c.get("share") is None:
            return []
        rows.append(
            core_work(
                c["layer"],
                c["share"],
                c["neurons_per_core"],
                a.synops.per_inference_mean,
                a.spikes_out.per_inference_mean,
                timesteps,
            )
        )
    return rows


def calibration_figures(
    activity: list[LayerActivity], totals: Totals, work: list[dict], t: int
) -> dict:
    """This network's figures in the calibration's terms (``hardware.calibration.reference``)."""
    spiking = [a for a in activity if a.firing_rate is not None]
    neurons = sum(a.neuron_updates_per_inference for a in activity) / t
    return reference(
        neurons,
        totals.synops_per_inference_mean,
        sum(a.spikes_out.per_inference_mean for a in spiking),
        sum(a.neuron_updates_per_inference for a in spiking) / t or 1,
        t,
        work or [dict(synops=0.0)],
    )


def build_report(sim_dir: str, hardware: str = "loihi2", netx_path: Optional[str] = None) -> Report:
    """The report of a ``simulate`` folder: the chip backend's counts (the emulator's or Lava's, read
    the same way), PyTorch's beside them when simulated, on the IR of the netx file."""
    results = sim.read(sim_dir)
    profile = load_profile(hardware)
    path = netx_path or results.file
    if not netx_path and not os.path.isfile(path):
        raise CheckpointError(
            f"{os.path.join(sim_dir, sim.RESULTS)}: field file names {path}, which does not exist; "
            f"give the file the simulation ran with --netx"
        )
    net = read_model(path)  # a damaged file is named by its reader first
    layers = net.compute_layers  # an input layer with its own neuron too: neurons, updates, cores
    _check_against(net, results, path, sim_dir)  # then another network's layers, by name
    if file_sha256(path) != results.file_sha256:  # then any other file, even with the same layers
        raise CheckpointError(
            f"{path} is not the file the simulation in {sim_dir} ran (its SHA-256 differs: "
            f"re-exported or another network); give that file with --netx, or re-run simulate"
        )
    counts = results.read_counts(sim_dir, [layer.neurons for layer in layers], path)
    t = results.timesteps
    chip = results.chip
    graded = results.input_max > 1
    statics = [static_counts(layer) for layer in layers]
    activity = {
        src: a
        for src in dict.fromkeys((chip,) + SOURCE_NAMES)
        if (a := _activity(layers, counts, src, t, graded)) is not None
    }
    totals = {src: Totals.of(a) for src, a in activity.items()}
    main = totals[chip]
    meta = net.meta
    pipeline = sum(
        1 for layer in layers if layer.kind != "input"
    )  # an input neuron takes its input in the same step
    typed = [LayerStatic.from_dict(s) for s in statics]
    feas = feasibility(statics, profile, net.input_bits)
    work = _work(feas, activity[chip], t)
    timing = step_time(work, profile, t, pipeline) if work else None
    static = static_energy(feas["chips"], timing, profile)  # the same under the mean and the max
    cal = profile.calibration
    return Report(
        sim_dir=sim_dir,
        netx_file=path,
        source_run=meta.get("source_run"),
        chip=chip,
        dataset=results.dataset or "raw input",
        samples=results.samples,
        timesteps=t,
        n_classes=net.n_classes,
        input_encoding=meta.get("input_encoding", f"{results.input_bits}-bit input"),
        hardware=profile,
        accuracy={
            src: s.accuracy if (s := results.summaries.get(src)) else None for src in activity
        },
        parity=results.parity,
        agreements=list(results.agreements),
        layers=typed,
        activity=activity,
        totals=totals,
        ann_macs_per_inference=sum(s.ann_macs for s in typed),
        memory=Memory.of(typed),
        feasibility=Feasibility.from_dict(feas),
        energy=EnergyRange(
            mean=Energy.from_dict(
                energy(
                    main.synops_per_inference_mean,
                    main.neuron_updates_per_inference,
                    main.spikes_per_inference_mean,
                    profile,
                    static,
                )
            ),
            max=Energy.from_dict(
                energy(
                    main.synops_per_inference_max,
                    main.neuron_updates_per_inference,
                    main.spikes_per_inference_max,
                    profile,
                    static,
                )
            ),
        ),
        latency=Latency(
            timesteps_per_inference=t,
            pipeline_layers=pipeline,
            first_result_after_steps=t + pipeline,
            steady_state_steps_per_inference=t,
            seconds=None
            if not profile["timestep_seconds"].known
            else t * profile["timestep_seconds"].value,
        ),
        assumptions=list(COMPILER_ASSUMPTIONS if feas["accounting"] == "compiler" else ASSUMPTIONS)
        + _uncounted(layers),
        timing=None if timing is None else Timing.from_dict(timing),
        basis=None
        if cal is None or not work
        else Basis.from_dict(distance(cal, calibration_figures(activity[chip], main, work, t))),
    )


def _uncounted(layers) -> list:
    """The counts the report cannot define, one line each: a recurrent read-out's own spikes feed back
    through ``weight_rec`` on the chip, but no source records the read-out's spikes."""
    last = layers[-1]
    if last.weight_rec is None:
        return []
    return [
        f"Synaptic ops leave out the read-out {last.name}'s recurrent feedback: its own spikes feed "
        f"back through weight_rec on the chip, but no source records the read-out's spikes."
    ]
