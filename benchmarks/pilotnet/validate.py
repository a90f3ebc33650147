"""PilotNet LIF on Loihi 2: the report's modelled cores, time and energy against the chip's measurement.

lava-dl's benchmark notebook (tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb, three recorded
runs, 2022-23; copied in benchmarks/pilotnet/measured.json) ran the ``network.net`` that lava-dl's wheel
ships as tests/lava/lib/dl/netx/gts/pilotnet_lif/network.net on one Loihi 2 chip, its ``image.npy`` fed as
the input layer's bias, 16 steps per inference. This script does what a new user would, from those two
files alone: ``simulate`` the frame in the emulator, ``report --hardware loihi2``; then it sets the
report's figures beside the measured ones, and recomputes the profile's calibrated figures from the
measurement and the model (``tna_deploy.hardware.calibration``) to check that tna_deploy/hardware/profiles/loihi2.toml holds
them. Writes benchmarks/results/pilotnet_loihi2.json.

    .venv/bin/python benchmarks/pilotnet/validate.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from tna_deploy.hardware.calibration import calibrate  # noqa: E402
from tna_deploy.hardware.profile import load_profile  # noqa: E402
from tna_deploy.report import read  # noqa: E402
from tna_deploy.report.build import calibration_figures  # noqa: E402


def pilotnet_dir() -> str:
    lava = list(importlib.util.find_spec("lava").submodule_search_locations)[0]
    return os.path.join(os.path.dirname(lava), "tests/lava/lib/dl/netx/gts/pilotnet_lif")


def run(work: str, hardware: str) -> tuple[list[str], str]:
    """simulate + report, as the CLI runs them; returns the commands and the report folder."""
    src = pilotnet_dir()
    image = np.load(os.path.join(src, "image.npy"))  # Lava's (W, H, C)
    chw = os.path.join(work, "image_chw.npy")
    np.save(chw, image.transpose(2, 1, 0))
    net = os.path.join(src, "network.net")
    cmds = [
        ["simulate", net, "--input", chw, "--input-drive", "bias", "--steps", "16",
         "--out", os.path.join(work, "sim")],
        ["report", os.path.join(work, "sim"), "--hardware", hardware,
         "--out", os.path.join(work, "report"), "--format", "json,md"],
    ]  # fmt: skip
    for c in cmds:
        subprocess.run([sys.executable, "-m", "tna_deploy", *c], check=True, cwd=ROOT)
    shown = [
        " ".join(["tna-deploy", *c])
        .replace(src, "$LAVA_DL_GTS/pilotnet_lif")
        .replace(work, "$WORK")
        for c in cmds
    ]
    return shown, os.path.join(work, "report")


def _span(values) -> list[float]:
    return [min(values), max(values)]


def _overlap(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def compare(r, measured: dict) -> dict:
    """Measured vs modelled, per figure."""
    runs, t = measured["runs"], measured["steps_per_inference"]
    ips = [x["inferences_per_second"] for x in runs]
    tm, e = r.timing, r.energy.mean
    stat = e.static
    dyn = [e.low_nJ - stat.nJ, e.high_nJ - stat.nJ_max]
    rows = {
        "cores": dict(
            measured=measured["cores_per_layer"]["total"], modelled=r.feasibility.total_cores
        ),
        "cores_per_layer": dict(
            measured=measured["cores_per_layer"]["cores"],
            modelled=[c.cores for c in r.feasibility.per_layer],
        ),
        "seconds_per_step": dict(
            measured=_span([1 / (x * t) for x in ips]),
            modelled=[tm.seconds_per_step_low, tm.seconds_per_step_high],
        ),
        "seconds_per_inference": dict(
            measured=_span([1 / x for x in ips]),
            modelled=[tm.seconds_per_inference_low, tm.seconds_per_inference_high],
        ),
        "inferences_per_second": dict(
            measured=_span(ips),
            modelled=[tm.inferences_per_second_low, tm.inferences_per_second_high],
        ),
        "energy_per_inference_mJ": dict(
            measured=_span([x["total_energy_mJ"] for x in runs]),
            modelled=[e.low_nJ * 1e-6, e.high_nJ * 1e-6],
        ),
        "dynamic_energy_per_inference_mJ": dict(
            measured=_span([x["dynamic_energy_mJ"] for x in runs]), modelled=[v * 1e-6 for v in dyn]
        ),
        "static_energy_per_inference_mJ": dict(
            measured=_span([x["static_power_W"] / x["inferences_per_second"] * 1e3 for x in runs]),
            modelled=[stat.nJ * 1e-6, stat.nJ_max * 1e-6],
        ),
    }
    for k, row in rows.items():
        if k.startswith("cores"):
            m, p = row["measured"], row["modelled"]
            row["error"] = (p - m) / m if k == "cores" else [a - b for a, b in zip(p, m)]
        else:
            row["overlaps"] = _overlap(row["measured"], row["modelled"])
            row["contains_measured"] = (
                row["modelled"][0] <= row["measured"][0]
                and row["measured"][1] <= row["modelled"][1]
            )
    return rows


def recalibrate(r, measured: dict, profile) -> dict:
    """The profile's calibrated figures, recomputed; and whether the profile holds them (0.5 %)."""
    t = measured["steps_per_inference"]
    ips = [x["inferences_per_second"] for x in measured["runs"]]
    work = [c.to_dict() for c in r.timing.cores]
    tot = r.totals[r.chip]
    b = profile["barrier_seconds"]
    cal = calibrate(
        work,
        tot.synops_per_inference_mean,
        tot.neuron_updates_per_inference,
        dict(
            seconds_per_step=_span([1 / (x * t) for x in ips]),
            dynamic_mJ=_span([x["dynamic_energy_mJ"] for x in measured["runs"]]),
            static_W=_span([x["static_power_W"] for x in measured["runs"]]),
        ),
        (b.value, b.value_max),
        profile["energy_synop_pj"].value,
    )
    ref = calibration_figures(r.activity[r.chip], tot, work, t)
    held = {}
    for k, (lo, hi) in cal.items():
        f = profile[k]
        got = (f.value, f.value_max if f.value_max is not None else f.value)
        held[k] = all(abs(g - w) <= 0.005 * max(abs(w), 1e-12) for g, w in zip(got, (lo, hi)))
    c = profile.calibration
    for k, v in ref.items():
        held[f"calibration.{k}"] = c is not None and abs(getattr(c, k) - v) <= 0.005 * abs(v)
    return dict(figures={k: list(v) for k, v in cal.items()}, reference=ref, profile_holds=held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hardware", default="loihi2")
    ap.add_argument("--work", help="folder for the simulation and report [a temporary one]")
    ap.add_argument(
        "--results", default=os.path.join(ROOT, "benchmarks/results/pilotnet_loihi2.json")
    )
    args = ap.parse_args()
    measured = json.load(open(os.path.join(HERE, "measured.json")))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or tmp
        os.makedirs(work, exist_ok=True)
        commands, rep_dir = run(work, args.hardware)
        r = read(os.path.join(rep_dir, "report.json"))
        profile = load_profile(args.hardware)
        out = dict(
            network=measured["network"],
            measured_source=measured["source"],
            commands=commands,
            basis=r.basis.basis if r.basis else None,
            binding=dict(
                low=dict(layer=r.timing.busiest_layer_low, term=r.timing.binding_term_low),
                high=dict(layer=r.timing.busiest_layer, term=r.timing.binding_term),
            ),
            comparison=compare(r, measured),
            hala_point_check=dict(
                bound_pj_per_synop=profile["energy_synop_pj"].value,
                measured_dynamic_pj_per_modelled_synop=[
                    x["dynamic_energy_mJ"] * 1e9 / r.totals[r.chip].synops_per_inference_mean
                    for x in measured["runs"]
                ],
            ),
            calibration=recalibrate(r, measured, profile),
        )
    with open(args.results, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out["comparison"], indent=1))
    print(json.dumps(out["calibration"], indent=1))
    print(f"results -> {args.results}")


if __name__ == "__main__":
    main()
