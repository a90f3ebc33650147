"""Benchmark: `make demo` from scratch (environment installed), its wall time and what it reached.

Removes runs/demo and sim/demo* first (the demo re-uses a finished run otherwise), runs scripts/demo.sh,
and writes benchmarks/results/demo_time.json: total seconds, seconds per stage (from the stage banners),
the base's ternary test accuracy on the full test set, the emulator's accuracy and parity on all
10,000 test images, Lava == emulator on 20 samples and onnxruntime == PyTorch on 1,000. The README quotes it.

    .venv/bin/python benchmarks/demo_time.py
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main() -> None:
    for d in ("runs/demo", "sim/demo", "sim/demo-lava", "sim/demo-onnx"):
        shutil.rmtree(os.path.join(ROOT, d), ignore_errors=True)
    t0 = time.perf_counter()
    stages = []
    proc = subprocess.Popen(
        ["bash", "scripts/demo.sh", "runs/demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        sys.stderr.write(line)
        if line.startswith("== "):
            stages.append(
                dict(stage=line.strip("= \n"), start_s=round(time.perf_counter() - t0, 1))
            )
    if proc.wait() != 0:
        raise SystemExit("demo failed")
    total = time.perf_counter() - t0
    for a, b in zip(stages, stages[1:] + [dict(start_s=round(total, 1))]):
        a["seconds"] = round(b["start_s"] - a["start_s"], 1)
    with open(os.path.join(ROOT, "runs/demo/metrics.jsonl")) as f:
        last = [json.loads(line) for line in f if line.strip()][-1]
    with open(os.path.join(ROOT, "sim/demo/results.json")) as f:
        sim = json.load(f)
    with open(os.path.join(ROOT, "sim/demo-lava/results.json")) as f:
        lava = json.load(f)
    with open(os.path.join(ROOT, "sim/demo-onnx/results.json")) as f:
        onnx = json.load(f)
    chip = sim["chip"]
    result = dict(
        benchmark="demo_time",
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        total_seconds=round(total, 1),
        stages=stages,
        base_ternary_test_accuracy=last["test_acc_base"],
        twin_test_accuracy=last["test_acc_twin"],
        emulator_samples=sim["samples"],
        emulator_accuracy=sim[chip]["accuracy"],
        parity_with_pytorch={k: v for k, v in sim.get("parity", {}).items() if k != "per_layer"},
        lava_vs_emulator={k: v for k, v in lava.get("agreement", {}).items() if k != "per_layer"},
        onnxruntime_samples=onnx["samples"],
        onnxruntime_vs_pytorch={
            k: v for k, v in onnx.get("parity", {}).items() if k != "per_layer"
        },
    )
    out = os.path.join(HERE, "results", "demo_time.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(
        f"demo: {total / 60:.1f} min, base ternary {last['test_acc_base']:.2f}% -> {out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
