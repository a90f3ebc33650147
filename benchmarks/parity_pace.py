"""Benchmark: what parity with PyTorch costs beside the emulator. Runs

    tna-deploy simulate NET --samples all --run RUN --out TMP

as a child process and records its wall time (the whole command, Python's start included), the time line
the CLI prints (its own total against the emulator's seconds), the emulator's own seconds, PyTorch's
(the reference forward and its conversion), the comparison's and the counting's (results.json's
``timing``), and the child's peak RSS, into benchmarks/results/parity_pace.json under ``--label``
(other labels' entries are kept). ``--code DIR`` runs the tna_deploy of DIR instead (e.g. a checkout of
an earlier commit, for a before/after pair: its commit is recorded with the figures).

    .venv/bin/python benchmarks/parity_pace.py export/demo.net --run runs/demo --label demo
    .venv/bin/python benchmarks/parity_pace.py export/c8.net --run runs/c8 --label "CIFARNet 1/8"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "results", "parity_pace.json")


def _commit(code: str) -> str:
    """The commit the code is at, with "-dirty" where tna_deploy has uncommitted changes."""
    try:
        git = ["git", "-C", code]
        head = subprocess.run(
            git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            git + ["status", "--porcelain", "--", "tna_deploy"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_once(net: str, run: str, code: str, extra: list) -> dict:
    """One ``simulate --samples all --run`` in a child; its figures."""
    with tempfile.TemporaryDirectory(prefix="parity-pace-") as tmp:
        out = os.path.join(tmp, "sim")
        net, run = os.path.abspath(net), os.path.abspath(run)
        cmd = [sys.executable, "-m", "tna_deploy", "simulate", net, "--samples", "all"]
        cmd += ["--run", run, "--out", out, *extra]
        env = dict(os.environ, PYTHONPATH=code, TQDM_DISABLE="1")
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        # run from ``code``: `python -m` puts the working directory first on sys.path, before PYTHONPATH
        proc = subprocess.Popen(
            cmd, env=env, cwd=code, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - t0
        # the child has been reaped by communicate(); its peak RSS is in RUSAGE_CHILDREN, the largest
        # of this process's children so far (one child per run: --repeats runs the largest once more)
        import resource

        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            sys.stderr.write(stderr.decode())
            raise SystemExit(f"simulate failed ({proc.returncode}): {' '.join(cmd)}")
        with open(os.path.join(out, "results.json")) as f:
            res = json.load(f)
    lines = stdout.decode().splitlines()
    chip = res["chip"]
    timing = res.get("timing", {})
    return dict(
        wall_seconds=round(wall, 2),
        emulator_seconds=res[chip]["seconds"],
        wall_over_emulator=round(wall / res[chip]["seconds"], 2),
        pytorch_seconds=res["torch"]["seconds"] or None,  # 0.0: not timed before the timing
        comparison_seconds=timing.get("comparison"),
        counting_seconds=timing.get("counting"),
        simulate_seconds=timing.get("seconds"),
        peak_rss_mb_so_far=round(rss_mb, 1),
        cli_time_line=next((x for x in lines if x.startswith("time: ")), None),
        samples=res["samples"],
        spikes_equal=res["parity"]["spikes_equal"],
        logits_equal=res["parity"]["logits_equal"],
        accuracy=res[chip]["accuracy"],
        load_average_at_start=round(load, 2),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("netx")
    ap.add_argument("--run", required=True)
    ap.add_argument("--label", required=True, help="the network's name in the JSON")
    ap.add_argument("--code", default=ROOT, help="the checkout whose tna_deploy runs [this one]")
    ap.add_argument("--as", dest="as_key", default="after", help="the entry's key [after]")
    ap.add_argument("--repeats", type=int, default=1, help="runs; the fastest is kept")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("extra", nargs="*", help="more simulate flags (after --)")
    args = ap.parse_args()
    import torch

    args.code = os.path.abspath(args.code)
    runs = [run_once(args.netx, args.run, args.code, args.extra) for _ in range(args.repeats)]
    best = min(runs, key=lambda r: r["wall_seconds"])
    best["peak_rss_mb"] = best.pop("peak_rss_mb_so_far")  # the largest child's, over every repeat
    entry = dict(
        command=f"tna-deploy simulate {args.netx} --samples all --run {args.run} --out TMP "
        + " ".join(args.extra),
        code_commit=_commit(args.code),
        repeats=args.repeats,
        walls=[r["wall_seconds"] for r in runs],
        **best,
    )
    results = {}
    if os.path.isfile(args.out):
        with open(args.out) as f:
            results = json.load(f)
    results.update(
        benchmark="parity_pace",
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        python=platform.python_version(),
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
    )
    results.setdefault("networks", {}).setdefault(args.label, {})[args.as_key] = entry
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(entry, indent=1))


if __name__ == "__main__":
    main()
