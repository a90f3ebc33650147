"""Seconds per timestep, per inference and inferences per second from the work on the busiest core.

The form is Timcheck, Pierro and Shrestha's (2026, "A Compute and Communication Runtime Model for
Loihi 2", arXiv 2601.10035): a max-affine lower bound, in which a timestep lasts as long as its slowest
resource on its busiest core plus the barrier that ends the step. Per core the resources are the
synaptic ops it does, the neurons it updates (every neuron, every step) and the spikes it sends; each
layer's work is spread over its cores as the mapper cuts it (the fullest tile carries the largest share).
The coefficients are the profile's (``time_synop_ns``, ``time_neuron_update_ns``, ``time_spike_ns``,
``barrier_seconds``), each a range; the paper's own coefficients were not available to this project, so
Loihi 2's are calibrated on lava-dl's PilotNet LIF measurement (see the profile's sources).
"""

from __future__ import annotations

from typing import Optional

from .profile import Profile

TERMS = (
    ("synaptic ops", "synops", "time_synop_ns"),
    ("neuron updates", "updates", "time_neuron_update_ns"),
    ("spikes sent", "spikes", "time_spike_ns"),
)


def core_work(
    layer: str, share: float, neurons_per_core: float, synops: float, spikes: float, timesteps: int
) -> dict:
    """The fullest core of one layer, per timestep (mean over the inference): its share of the layer's
    synaptic ops and output spikes per inference, and its neurons (each updated every step)."""
    return dict(
        layer=layer,
        synops=share * synops / timesteps,
        updates=float(neurons_per_core),
        spikes=share * spikes / timesteps,
    )


def _bounds(profile: Profile, key: str) -> tuple[float, float]:
    f = profile[key]
    return f.value, f.value_max if f.value_max is not None else f.value


def _slowest(work: list[dict], coef: dict, end: int) -> tuple[float, str, str]:
    """(seconds, layer, term) of the slowest resource on the busiest core at one end of the ranges."""
    best = (0.0, "", "")
    for w in work:
        for term, count, key in TERMS:
            if key in coef:
                s = w[count] * coef[key][end] * 1e-9
                if s > best[0]:
                    best = (s, w["layer"], term)
    return best


def step_time(work: list[dict], profile: Profile, timesteps: int, pipeline: int) -> Optional[dict]:
    """The time model's figures as ranges; None when the profile has no barrier or no known term. A
    profile missing some terms' coefficients gets the known terms only: then a lower bound, said so."""
    keys = [k for _, _, k in TERMS] + ["barrier_seconds"]
    unknown = [k for k in keys if not profile[k].known]
    coef = {k: _bounds(profile, k) for _, _, k in TERMS if profile[k].known}
    if "barrier_seconds" in unknown or not coef:
        return dict(depends_on_unknown=unknown)
    barrier = _bounds(profile, "barrier_seconds")
    lo, lo_layer, lo_term = _slowest(work, coef, 0)
    hi, hi_layer, hi_term = _slowest(work, coef, 1)
    step_lo, step_hi = barrier[0] + lo, barrier[1] + hi
    statuses = {profile[k].status for k in keys if profile[k].known}
    return dict(
        seconds_per_step_low=step_lo,
        seconds_per_step_high=step_hi,
        seconds_per_inference_low=timesteps * step_lo,
        seconds_per_inference_high=timesteps * step_hi,
        inferences_per_second_low=1.0 / (timesteps * step_hi),
        inferences_per_second_high=1.0 / (timesteps * step_lo),
        first_result_seconds_low=(timesteps + pipeline) * step_lo,
        first_result_seconds_high=(timesteps + pipeline) * step_hi,
        busiest_layer=hi_layer,
        binding_term=hi_term,
        busiest_layer_low=lo_layer,
        binding_term_low=lo_term,
        kind="partial: the known terms only, a lower bound"
        if unknown
        else ("calibrated estimate" if "calibrated" in statuses else "estimate"),
        depends_on_unknown=unknown,
        cores=work,
    )


def static_energy(chips: Optional[int], timing: Optional[dict], profile: Profile) -> Optional[dict]:
    """Static energy per inference in nJ: static power per chip x chips x seconds per inference."""
    p = profile["static_power_per_chip_w"]
    if not p.known or chips is None or not timing or "seconds_per_inference_low" not in timing:
        return None
    p_lo, p_hi = _bounds(profile, "static_power_per_chip_w")
    return dict(
        chips=chips,
        watts_per_chip=p_lo,
        watts_per_chip_max=p_hi,
        status=p.status,
        nJ=chips * p_lo * timing["seconds_per_inference_low"] * 1e9,
        nJ_max=chips * p_hi * timing["seconds_per_inference_high"] * 1e9,
    )
