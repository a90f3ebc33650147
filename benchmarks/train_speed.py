"""Benchmark: one training step, stock lava-dl SLAYER vs tna-deploy's fast engine, side by side.

For CIFARNet at widths 1/16, 1/8 and 1/4 on 28x28 Fashion-MNIST (batch 64, T = 5, the base compressed
to ternary as in the second phase of training), one network (``single``) and base + twin (``tna``):
images/s of a full step (forward, loss, backward, Adam) and the peak resident memory of the process.
Each (width, method, engine) runs in fresh processes, stock and fast alternating, so that one's
allocations do not colour the other's peak; of ``--repeat`` processes the fastest is kept (each reports
its median step). The figure to quote is the ratio, against stock SLAYER as lava-dl runs it; a third
process per pair, stock SLAYER with freed memory kept as ``tna-deploy train`` keeps it
(``memory.keep_freed_pages``), shows what that allocator setting alone gives stock. Writes
benchmarks/results/train_speed.json (or train_speed_<device>.json with --device cuda).

    .venv/bin/python benchmarks/train_speed.py                 # about 6 minutes on 2 cores
    .venv/bin/python benchmarks/train_speed.py --widths 0.125 --steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def one(
    width: float, method: str, engine: str, batch: int, steps: int, warmup: int, device: str
) -> dict:
    """Runs in a child process: time ``steps`` training steps after ``warmup`` ones."""
    import torch

    from tna_deploy.data.datasets import load_split
    from tna_deploy.data.encode import encode
    from tna_deploy.train.config import TrainConfig
    from tna_deploy.train.device import neuron_count, resolve_device
    from tna_deploy.train.losses import single_loss, tna_loss
    from tna_deploy.train.runs import ModelMeta, make_networks

    dev = resolve_device(device)
    cfg = TrainConfig(
        width=width,
        method=method,
        batch_size=batch,
        epochs=2,
        quantize_epoch=0,
        limit_train=batch,
        limit_test=1,
    )
    try:
        data = load_split(cfg, "train")
        x = encode(data.x[:batch], cfg.timesteps, cfg.input_bits, False)
        y = data.y[:batch]
        source = "fashion-mnist"
    except Exception:  # no dataset here: random 4-bit pixels cost the same to train on
        x = torch.randint(0, 16, (batch, 1, 28, 28, cfg.timesteps)).float()
        y = torch.randint(0, 10, (batch,))
        source = "random"
    x, y = x.to(dev), y.to(dev)
    torch.manual_seed(0)
    base, twins = make_networks(cfg, ModelMeta((1, 28, 28), 10, 15.0, False))
    nets = [base] + twins
    base.set_compression(True)
    for n in nets:
        n.engine = engine
        n.to(dev).train()
    opt = torch.optim.Adam([p for n in nets for p in n.parameters() if p.requires_grad], lr=1e-3)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        out = [n(x) for n in nets]
        parts = tna_loss(out[0], out[1:], y, 1e-4) if method == "tna" else single_loss(out[0], y)
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        opt.step()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    med = statistics.median(times)
    res = dict(
        width=width,
        method=method,
        engine=engine,
        batch=batch,
        data=source,
        step_s=round(med, 4),
        step_s_all=[round(t, 4) for t in times],
        images_per_s=round(batch / med, 1),
        peak_rss_mb=round(peak / 2**20, 1),
        step_rss_mb=round((peak - rss_before) / 2**20, 1),
        activations=sum(neuron_count(n) for n in nets) * cfg.timesteps * batch,
    )
    if dev.type == "cuda":
        res["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
    return res


# the processes of each (width, method): stock lava-dl SLAYER as a lava-dl user runs it (glibc's default
# malloc); stock SLAYER with freed memory kept (``memory.keep_freed_pages``), to show that setting's own
# share; the fast engine as ``tna-deploy train`` runs it (with that setting)
RUNS = {"slayer": "slayer", "slayer_keep": "slayer", "fast": "fast"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="0.0625,0.125,0.25")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--repeat", type=int, default=2, help="fresh processes per engine; the fastest is kept"
    )
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument(
        "--table",
        metavar="JSON",
        help="print the README's markdown table of a result file and exit",
    )
    a = ap.parse_args()
    if a.table:
        with open(a.table) as f:
            print(table(json.load(f)))
        return
    if a.child:
        width, method, run = float(a.child[0]), a.child[1], a.child[2]
        engine = RUNS[run]
        if run != "slayer":  # as `tna-deploy train` runs: freed memory kept for the next step
            from tna_deploy.memory import keep_freed_pages

            keep_freed_pages()
        res = one(width, method, engine, a.batch, a.steps, a.warmup, a.device)
        print(json.dumps(dict(res, run=run)))
        return
    rows = []
    for width in [float(w) for w in a.widths.split(",")]:
        for method in ("single", "tna"):
            pair = {}
            for _ in range(a.repeat):  # stock and fast alternate, so that load hits both alike
                for engine in RUNS:
                    cmd = [
                        sys.executable,
                        __file__,
                        "--child",
                        str(width),
                        method,
                        engine,
                        "--batch",
                        str(a.batch),
                        "--steps",
                        str(a.steps),
                        "--warmup",
                        str(a.warmup),
                        "--device",
                        a.device,
                    ]
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    res = json.loads(out.stdout.strip().splitlines()[-1])
                    if engine not in pair or res["images_per_s"] > pair[engine]["images_per_s"]:
                        pair[engine] = res
            for engine, res in pair.items():  # the best process of each, once
                print(
                    f"width {width:g} {method:<6} {engine:<11} {res['images_per_s']:>7.1f} img/s  "
                    f"peak {res['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                )
            rows.append(
                dict(
                    width=width,
                    method=method,
                    slayer=pair["slayer"],
                    fast=pair["fast"],
                    slayer_keep=pair["slayer_keep"],
                    speedup=round(pair["fast"]["images_per_s"] / pair["slayer"]["images_per_s"], 2),
                    speedup_vs_slayer_keep=round(
                        pair["fast"]["images_per_s"] / pair["slayer_keep"]["images_per_s"], 2
                    ),
                    peak_ratio=round(
                        pair["fast"]["peak_rss_mb"] / pair["slayer"]["peak_rss_mb"], 3
                    ),
                )
            )
    single = {r["width"]: r for r in rows if r["method"] == "single"}
    for r in rows:
        if (
            r["method"] == "tna"
        ):  # the target: base + twin against stock's one-network speed
            r["tna_fast_vs_stock_single"] = round(
                r["fast"]["images_per_s"] / single[r["width"]]["slayer"]["images_per_s"], 2
            )
    import torch

    result = dict(
        benchmark="train_speed",
        device=a.device,
        repeat=a.repeat,
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        cpu=_cpu_name(),
        python=platform.python_version(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        batch=a.batch,
        timesteps=5,
        steps=a.steps,
        warmup=a.warmup,
        rows=rows,
    )
    out = a.out or os.path.join(
        HERE,
        "results",
        "train_speed.json"
        if a.device == "cpu"
        else f"train_speed_{a.device.replace(':', '')}.json",
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"-> {out}", file=sys.stderr)


def table(result: dict) -> str:
    """The README's table: images/s and peak memory, stock vs fast, and the issue's two target ratios;
    stock with freed memory kept beside them where the result has it."""
    kept = all("slayer_keep" in r for r in result["rows"])
    lines = [
        "| CIFARNet width | networks | stock SLAYER img/s |"
        + (" stock, freed memory kept |" if kept else "")
        + " fast img/s | speed-up | peak MB stock / fast |",
        "|---|---|---|---|---|---|" + ("---|" if kept else ""),
    ]
    for r in result["rows"]:
        nets = "base + twin" if r["method"] == "tna" else "one"
        extra = (
            f" ({r['tna_fast_vs_stock_single']:.2f}x stock's one-network img/s)"
            if "tna_fast_vs_stock_single" in r
            else ""
        )
        if kept:
            extra += f"; {r['speedup_vs_slayer_keep']:.2f}x stock with memory kept"
        lines.append(
            f"| 1/{round(1 / r['width'])} | {nets} | {r['slayer']['images_per_s']:.1f} | "
            + (f"{r['slayer_keep']['images_per_s']:.1f} | " if kept else "")
            + f"{r['fast']['images_per_s']:.1f} | {r['speedup']:.2f}x{extra} | "
            f"{r['slayer']['peak_rss_mb']:.0f} / {r['fast']['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
