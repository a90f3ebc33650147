"""The calibration of the time and energy models on one measured network, and how far another is from it.

``calibrate`` turns a measurement (seconds per step, dynamic energy and static power per inference, as
lava-dl's PilotNet LIF benchmark records them) and this project's model of the same network (its
busiest core's work and its op counts) into the profile's calibrated figures:

- ``time_synop_ns``: the measured step less the barrier, over the busiest core's synaptic ops (the
  term that binds on PilotNet), from the fastest run less the largest barrier to the slowest run less
  the smallest;
- ``time_neuron_update_ns`` and ``time_spike_ns``: upper bounds, since in a max-affine model no term
  can exceed the measured step: the step over the most neurons, and the most spikes, on one core;
- ``energy_neuron_update_pj``: the measured dynamic energy less the synaptic ops priced at the profile's
  ``energy_synop_pj``, over the neuron updates: everything per inference that is not per synaptic op
  (neuron updates, spikes, routing, per-step core overhead) is carried by the neuron updates.

``reference`` is the network's own figures for the profile's ``[calibration]`` table, and ``distance``
compares a report's network with them, so a report can say how far it is from what was measured.
"""

from __future__ import annotations

from .profile import Calibration


def _busiest(work: list[dict], count: str) -> float:
    return max(w[count] for w in work)


def calibrate(
    work: list[dict],
    synops: float,
    updates: float,
    measured: dict,
    barrier: tuple,
    e_synop_pj: float,
) -> dict:
    """The calibrated figures as {name: (low, high)}. ``measured``: seconds_per_step, dynamic_mJ and
    static_W, each (min, max) over the recorded runs; ``barrier`` the assumed (low, high) in seconds."""
    t_lo, t_hi = measured["seconds_per_step"]
    b_lo, b_hi = barrier
    syn, upd, spk = (_busiest(work, k) for k in ("synops", "updates", "spikes"))
    e_lo, e_hi = (mj * 1e-3 * 1e12 for mj in measured["dynamic_mJ"])  # pJ per inference
    return dict(
        time_synop_ns=((t_lo - b_hi) / syn * 1e9, (t_hi - b_lo) / syn * 1e9),
        time_neuron_update_ns=(0.0, (t_hi - b_lo) / upd * 1e9),
        time_spike_ns=(0.0, (t_hi - b_lo) / spk * 1e9),
        energy_neuron_update_pj=(
            (e_lo - synops * e_synop_pj) / updates,
            (e_hi - synops * e_synop_pj) / updates,
        ),
        static_power_per_chip_w=tuple(measured["static_W"]),
    )


def reference(
    neurons: float,
    synops: float,
    spikes: float,
    spiking_neurons: float,
    timesteps: int,
    work: list[dict],
) -> dict:
    """The measured network's own figures, as the profile's ``[calibration]`` table holds them."""
    return dict(
        neurons=neurons,
        synops_per_inference=synops,
        synops_per_neuron_step=synops / (neurons * timesteps),
        firing_rate=spikes / (spiking_neurons * timesteps),
        busiest_core_synops_per_step=_busiest(work, "synops"),
    )


def distance(cal: Calibration, here: dict) -> dict:
    """The network at hand against the calibration network: each figure of ``reference`` as a ratio
    (here / there), and whether it lies within a factor of 2 of it on every one."""
    ratios = {
        k: here[k] / getattr(cal, k)
        for k in (
            "neurons",
            "synops_per_inference",
            "synops_per_neuron_step",
            "firing_rate",
            "busiest_core_synops_per_step",
        )
    }
    return dict(
        network=cal.network,
        basis=cal.basis,
        here=here,
        ratios=ratios,
        within_2x=all(0.5 <= r <= 2.0 for r in ratios.values()),
    )
