"""Assemble the report (a plain dict, schema in docs/report-schema.md) from a simulate output folder."""
from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from .. import __version__
from ..errors import CheckpointError
from ..hardware.counts import layer_counts, static_counts
from ..hardware.feasibility import ASSUMPTIONS, energy, feasibility
from ..hardware.layers import read_layers
from ..hardware.profile import load_profile
from ..simulate.run import FORMAT as SIM_FORMAT, RESULTS, SPIKES

FORMAT = "tna-deploy-report"
FORMAT_VERSION = 1


def _load_sim(sim_dir: str) -> tuple[dict, dict]:
    rpath, spath = os.path.join(sim_dir, RESULTS), os.path.join(sim_dir, SPIKES)
    for p in (rpath, spath):
        if not os.path.isfile(p):
            raise CheckpointError(f"{p}: missing; run tna-deploy simulate ... --out {sim_dir} first")
    try:
        with open(rpath) as f:
            results = json.load(f)
        with np.load(spath) as z:
            rasters = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{sim_dir}: unreadable simulation results ({type(e).__name__}); re-run simulate") from None
    if results.get("format") != SIM_FORMAT or results.get("format_version") != 1 or "input" not in rasters:
        raise CheckpointError(f"{rpath}: not tna-deploy simulation results (format {results.get('format')!r})")
    return results, rasters


def _activity(layers, rasters: dict, source: str, timesteps: int) -> Optional[list]:
    keys = [f"{source}_L{i}" for i in range(len(layers) - 1)]
    if not all(k in rasters for k in keys):
        return None
    outs = [rasters[k] for k in keys] + [None]
    ins = [rasters["input"]] + outs[:-1]
    return [dict(layer=l.name, **layer_counts(l, rin, rout, timesteps)) for l, rin, rout in zip(layers, ins, outs)]


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
    results, rasters = _load_sim(sim_dir)
    profile = load_profile(hardware)
    path = netx_path or results["file"]
    meta, layers = read_layers(path)
    t = meta.timesteps
    statics = [static_counts(l) for l in layers]
    activity = {src: a for src in ("lava", "torch") if (a := _activity(layers, rasters, src, t)) is not None}
    totals = {src: _totals(a) for src, a in activity.items()}
    lava = totals["lava"]
    mem_chip = sum(s["weight_bytes_chip"] for s in statics)
    mem_fp32 = sum(s["weight_bytes_fp32"] for s in statics)
    mem_int8 = sum(s["weight_bytes_int8"] for s in statics)
    return dict(
        format=FORMAT, format_version=FORMAT_VERSION, tna_deploy_version=__version__,
        sim_dir=sim_dir, netx_file=path, source_run=meta.source_run,
        dataset=meta.dataset, samples=results["samples"], timesteps=t, n_classes=meta.n_classes,
        input_encoding=meta.input_encoding, hardware=profile.to_dict(),
        accuracy=dict(lava=results["lava"]["accuracy"], torch=results.get("torch", {}).get("accuracy")),
        parity=results.get("parity"),
        layers=statics, activity=activity, totals=totals,
        ann_macs_per_inference=sum(s["ann_macs"] for s in statics),
        memory=dict(chip_bytes=mem_chip, int8_bytes=mem_int8, fp32_bytes=mem_fp32,
                    compression_vs_fp32=mem_fp32 / mem_chip, compression_vs_int8=mem_int8 / mem_chip,
                    neurons=sum(s["neurons"] for s in statics), synapses=sum(s["synapses"] for s in statics),
                    nonzero_synapses=sum(s["nonzero_synapses"] for s in statics)),
        feasibility=feasibility(statics, profile),
        energy=dict(mean=energy(lava["synops_per_inference_mean"], lava["neuron_updates_per_inference"],
                                lava["spikes_per_inference_mean"], profile),
                    max=energy(lava["synops_per_inference_max"], lava["neuron_updates_per_inference"],
                               lava["spikes_per_inference_max"], profile)),
        latency=dict(timesteps_per_inference=t, pipeline_layers=len(layers),
                     first_result_after_steps=t + len(layers), steady_state_steps_per_inference=t,
                     seconds=None if not profile["timestep_seconds"].known
                     else t * profile["timestep_seconds"].value),
        assumptions=ASSUMPTIONS)
