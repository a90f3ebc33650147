"""Assemble the report (a plain dict, schema in docs/report-schema.md) from a simulate output folder."""
from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from .. import __version__
from ..errors import CheckpointError
from ..hardware.counts import layer_activity, static_counts
from ..hardware.feasibility import ASSUMPTIONS, energy, feasibility
from ..ir import read_model
from ..hardware.profile import load_profile
from ..simulate.run import COUNTS, RESULTS
from ..simulate.run import FORMAT as SIM_FORMAT
from ..simulate.run import FORMAT_VERSION as SIM_VERSION

FORMAT = "tna-deploy-report"
FORMAT_VERSION = 2


def _load_sim(sim_dir: str) -> tuple[dict, dict]:
    rpath, cpath = os.path.join(sim_dir, RESULTS), os.path.join(sim_dir, COUNTS)
    for p in (rpath, cpath):
        if not os.path.isfile(p):
            raise CheckpointError(f"{p}: missing; run tna-deploy simulate ... --out {sim_dir} first")
    try:
        with open(rpath) as f:
            results = json.load(f)
        with np.load(cpath, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{sim_dir}: unreadable simulation results ({type(e).__name__}); re-run simulate") from None
    if not isinstance(results, dict) or results.get("format") != SIM_FORMAT:
        raise CheckpointError(f"{rpath}: not tna-deploy simulation results")
    if results.get("format_version") != SIM_VERSION:
        raise CheckpointError(f"{rpath}: simulation format version {results.get('format_version')} is not "
                              f"{SIM_VERSION}; re-run tna-deploy simulate")
    chip = results.get("chip")
    if f"{chip}_synops" not in arrays or "input_counts" not in arrays:
        raise CheckpointError(f"{cpath}: no per-sample counts of backend {chip!r}; re-run tna-deploy simulate")
    return results, arrays


def _activity(layers, arrays: dict, source: str, timesteps: int, graded: bool) -> Optional[list]:
    """Per layer: the source's measured synaptic ops and spikes in and out (read-out: none out)."""
    if f"{source}_synops" not in arrays:
        return None
    syn, counts = arrays[f"{source}_synops"], arrays[f"{source}_counts"]
    rows = []
    for i, layer in enumerate(layers):
        spikes_in = arrays["input_counts"] if i == 0 else counts[:, i - 1]
        spikes_out = counts[:, i] if i < len(layers) - 1 else None
        rows.append(dict(layer=layer.name, **layer_activity(layer, syn[:, i], spikes_in, spikes_out,
                                                            graded and i == 0, timesteps)))
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
        acs=sum(a["synops"]["per_inference_mean"] for a in activity if a["op_type"] == "AC"))


def build_report(sim_dir: str, hardware: str = "loihi2", netx_path: Optional[str] = None) -> dict:
    """The report of a ``simulate`` folder: the chip backend's counts (the emulator's or Lava's, read
    the same way), PyTorch's beside them when simulated, on the IR of the netx file."""
    results, arrays = _load_sim(sim_dir)
    profile = load_profile(hardware)
    path = netx_path or results["file"]
    net = read_model(path)
    layers = [layer for layer in net.compute_layers if layer.kind != "input"]
    if len(layers) != len(results["layers"]) - (1 if net.input_neuron else 0):
        raise CheckpointError(f"{path} has {len(layers)} layers, the simulation in {sim_dir} had "
                              f"{len(results['layers'])}; give the netx file it ran with --netx")
    t = results["timesteps"]
    chip = results["chip"]
    graded = results.get("input_max", 2) > 1
    statics = [static_counts(layer) for layer in layers]
    activity = {src: a for src in dict.fromkeys((chip, "lava", "emulator", "torch"))
                if (a := _activity(layers, arrays, src, t, graded)) is not None}
    totals = {src: _totals(a) for src, a in activity.items()}
    main = totals[chip]
    mem_chip = sum(s["weight_bytes_chip"] for s in statics)
    mem_fp32 = sum(s["weight_bytes_fp32"] for s in statics)
    mem_int8 = sum(s["weight_bytes_int8"] for s in statics)
    meta = net.meta
    return dict(
        format=FORMAT, format_version=FORMAT_VERSION, tna_deploy_version=__version__,
        sim_dir=sim_dir, netx_file=path, source_run=meta.get("source_run"), chip=chip,
        dataset=results.get("dataset") or "raw input", samples=results["samples"], timesteps=t,
        n_classes=net.n_classes, input_encoding=meta.get("input_encoding", f"{results.get('input_bits', 0)}-bit input"),
        hardware=profile.to_dict(),
        accuracy={src: results.get(src, {}).get("accuracy") for src in activity},
        parity=results.get("parity"), agreement=results.get("agreement"),
        layers=statics, activity=activity, totals=totals,
        ann_macs_per_inference=sum(s["ann_macs"] for s in statics),
        memory=dict(chip_bytes=mem_chip, int8_bytes=mem_int8, fp32_bytes=mem_fp32,
                    compression_vs_fp32=mem_fp32 / mem_chip, compression_vs_int8=mem_int8 / mem_chip,
                    neurons=sum(s["neurons"] for s in statics), synapses=sum(s["synapses"] for s in statics),
                    nonzero_synapses=sum(s["nonzero_synapses"] for s in statics)),
        feasibility=feasibility(statics, profile),
        energy=dict(mean=energy(main["synops_per_inference_mean"], main["neuron_updates_per_inference"],
                                main["spikes_per_inference_mean"], profile),
                    max=energy(main["synops_per_inference_max"], main["neuron_updates_per_inference"],
                               main["spikes_per_inference_max"], profile)),
        latency=dict(timesteps_per_inference=t, pipeline_layers=len(layers),
                     first_result_after_steps=t + len(layers), steady_state_steps_per_inference=t,
                     seconds=None if not profile["timestep_seconds"].known
                     else t * profile["timestep_seconds"].value),
        assumptions=ASSUMPTIONS)
