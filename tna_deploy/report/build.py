"""Assemble the report (a plain dict, schema in docs/report-schema.md) from a simulate output folder, read
through the simulation record's one reader (``tna_deploy.simulate.results``)."""

from __future__ import annotations

import os
from typing import Optional

from .. import __version__
from ..atomic import file_sha256
from ..errors import CheckpointError
from ..hardware.counts import layer_activity, static_counts
from ..hardware.feasibility import ASSUMPTIONS, energy, feasibility
from ..hardware.profile import load_profile
from ..ir import read_model
from ..simulate import results as sim
from ..simulate.choices import SOURCE_NAMES

FORMAT = "tna-deploy-report"
FORMAT_VERSION = 2


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
) -> Optional[list]:
    """Per compute layer: the source's measured synaptic ops and spikes in and out (read-out: none out).
    An input layer with its own neuron has no synaptic ops; its spikes are what the next layer receives."""
    if source not in counts.sources:
        return None
    syn, spikes = counts.sources[source].synops, counts.sources[source].counts
    rows = []
    for i, layer in enumerate(compute_layers):
        spikes_in = counts.input_counts if i == 0 else spikes[:, i - 1]
        spikes_out = spikes[:, i] if i < len(compute_layers) - 1 else None
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
        dataset=results.dataset or "raw input",
        samples=results.samples,
        timesteps=t,
        n_classes=net.n_classes,
        input_encoding=meta.get("input_encoding", f"{results.input_bits}-bit input"),
        hardware=profile.to_dict(),
        accuracy={
            src: s.accuracy if (s := results.summaries.get(src)) else None for src in activity
        },
        parity=results.parity.to_dict() if results.parity else None,
        agreement=results.agreement.to_dict() if results.agreement else None,
        agreements=[g.to_dict() for g in results.agreements],
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
