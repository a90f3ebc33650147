"""Cores per layer under a profile's limits, and energy per inference from counts and per-op figures.

A profile with the compiler's accounting (``mapper.FIGURES``, Loihi 2) gets the mapper's tiles; any other
the plain per-core limits: layers do not share cores; a core holds its neurons' synapses expanded (one
entry per nonzero synapse at the layer's weight bits, no convolutional weight sharing), which is
conservative for conv layers; fan-in is checked per neuron against the per-core axon limit.
"""

from __future__ import annotations

import math
from typing import Optional

from .mapper import map_layer
from .profile import Profile

ASSUMPTIONS = [
    "layers do not share cores",
    "synaptic memory holds every nonzero synapse expanded at the layer's weight bits (no conv weight sharing, "
    "no per-entry overhead): conservative for conv layers, optimistic about table overheads",
    "energy = synaptic ops x E_synop + neuron updates x E_update + output spikes x E_spike; routing between "
    "cores and static power are not counted",
    "every neuron is updated at every timestep",
]
COMPILER_ASSUMPTIONS = [
    "layers do not share cores; each is cut into tiles by the Loihi 2 compiler's accounting as lava-dl's "
    "PilotNet LIF compile prints it (power-of-two tile widths, the cost database's neuron and synaptic-"
    "memory limits per core, dense layers split by the overrun ratio)",
    "a timestep lasts as long as the slowest resource (synaptic ops, neuron updates, spikes sent) on the "
    "busiest core plus the barrier (a max-affine model, as Timcheck, Pierro and Shrestha 2026); a layer's "
    "work is spread over its cores by tile size",
    "energy = chips x static power x seconds + synaptic ops x E_synop + neuron updates x E_update "
    "(+ spikes x E_spike), E_update carrying every dynamic cost PilotNet's measurement does not put on "
    "synaptic ops",
    "every neuron is updated at every timestep",
]


def cores_for_layer(static: dict, profile: Profile) -> dict:
    limits = {}
    npc = profile["neurons_per_core"]
    if npc.known:
        limits["neurons"] = math.ceil(static["neurons"] / npc.value)
    mem = profile["synaptic_memory_per_core_bytes"]
    if mem.known:
        limits["synaptic_memory"] = math.ceil(static["synapse_bytes_expanded"] / mem.value)
    fan = profile["fan_in_per_core"]
    fan_in_ok = None if not fan.known else static["fan_in_max"] <= fan.value
    cores = max(limits.values()) if limits else None
    binding = max(limits, key=limits.get) if limits else None
    return dict(cores=cores, binding=binding, by_limit=limits, fan_in_within_limit=fan_in_ok)


def limits(statics: list, profile: Profile, input_bits: int) -> dict:
    """The profile's format limits against the network: weight bits per layer, the input's graded-spike
    bits, and the state width against each layer's worst-case input current in one step (every input at
    its largest value: 2^input_bits - 1 into the first layer, 1 elsewhere; Lava adds ``w << 6`` per spike).
    A layer past the state width can still run exactly while real activity stays below it."""
    wb, gb, sb = profile["weight_bits_max"], profile["graded_spike_bits_max"], profile["state_bits"]
    over_bits = [s["name"] for s in statics if wb.known and s.get("weight_bits", 0) > wb.value]
    state_max = (1 << (int(sb.value) - 1)) - 1 if sb.known else None
    worst = []
    for i, s in enumerate(statics):
        peak = ((1 << input_bits) - 1 if input_bits else 1) if i == 0 else 1
        current = 64 * s.get("weight_row_sum_max", 0) * peak
        if state_max is not None and current > state_max:
            worst.append(dict(layer=s["name"], worst_case_current=current, state_max=state_max))
    return dict(
        weight_bits_exceeded=over_bits,
        input_bits_within_limit=None if not gb.known else input_bits <= gb.value,
        state_overflow_possible=worst,
    )


def _layer_cores(static: dict, profile: Profile) -> dict:
    """The mapper's row where the profile has the compiler's accounting, else the plain limits'."""
    m = map_layer(static, profile)
    if m is None:
        return cores_for_layer(static, profile)
    fan = profile["fan_in_per_core"]
    axons = static["parameters"] // static["neurons"] if static["neurons"] else 0
    return dict(
        cores=m["cores"],
        binding=m["binding"],
        by_limit=m["by_limit"],
        fan_in_within_limit=None if not fan.known else axons <= fan.value,
        tile=m["tile"],
        neurons_per_core=m["neurons_per_core"],
        synaptic_words_per_core=m["words_per_core"],
        share=m["share"],
    )


def feasibility(statics: list, profile: Profile, input_bits: int = 0) -> dict:
    per_layer = [dict(layer=s["name"], **_layer_cores(s, profile)) for s in statics]
    compiler = all("tile" in r for r in per_layer)
    needs = (
        ("fan_in_per_core",)
        if compiler
        else ("neurons_per_core", "synaptic_memory_per_core_bytes", "fan_in_per_core")
    )
    unknown = [k for k in needs if not profile[k].known]
    total = (
        sum(r["cores"] for r in per_layer)
        if all(r["cores"] is not None for r in per_layer)
        else None
    )
    cpc = profile["cores_per_chip"]
    fits = None if total is None or not cpc.known else total <= cpc.value
    chips = None if total is None or not cpc.known else math.ceil(total / cpc.value)
    bad_fan_in = [r["layer"] for r in per_layer if r["fan_in_within_limit"] is False]
    return dict(
        accounting="compiler" if compiler else "per-core limits",
        per_layer=per_layer,
        total_cores=total,
        fits_one_chip=fits,
        chips=chips,
        fan_in_exceeded=bad_fan_in,
        depends_on_unknown=unknown,
        **limits(statics, profile, input_bits),
    )


def energy(
    synops: float,
    neuron_updates: float,
    spikes: float,
    profile: Profile,
    static: Optional[dict] = None,
) -> dict:
    """Energy per inference in nJ as a range, with each term's figure, status and what is unknown; with
    ``static`` (``timing.static_energy``) the chips' static energy over the inference too."""
    terms, unknown = [], []
    low = high = 0.0
    for label, count, key in (
        ("synaptic ops", synops, "energy_synop_pj"),
        ("neuron updates", neuron_updates, "energy_neuron_update_pj"),
        ("output spikes", spikes, "energy_spike_pj"),
    ):
        fig = profile[key]
        if not fig.known:
            unknown.append(key)
            terms.append(dict(term=label, count=count, figure=key, status="unknown", nJ=None))
            continue
        lo = count * fig.value / 1e3
        hi = count * (fig.value_max if fig.value_max is not None else fig.value) / 1e3
        low, high = low + lo, high + hi
        terms.append(
            dict(
                term=label,
                count=count,
                figure=key,
                pj_per_op=fig.value,
                pj_per_op_max=fig.value_max,
                status=fig.status,
                nJ=lo,
                nJ_max=hi,
            )
        )
    statuses = {t["status"] for t in terms if t["status"] != "unknown"}
    if static is not None:
        low, high = low + static["nJ"], high + static["nJ_max"]
    if unknown:
        kind = "partial: the known terms only; the total is unknown"
    elif "calibrated" in statuses:
        kind = "calibrated estimate" + ("" if static is not None else " (dynamic energy only)")
    elif statuses & {"upper-bound"} and statuses & {"lower-bound"}:
        kind = "mixed bounds: neither a lower nor an upper bound"
    elif "upper-bound" in statuses:
        kind = "upper bound"
    elif "lower-bound" in statuses:
        kind = "lower bound"
    else:
        kind = "estimate"
    return dict(
        low_nJ=low,
        high_nJ=high,
        kind=kind,
        complete=not unknown,
        depends_on_unknown=unknown,
        terms=terms,
        static=static,
    )
