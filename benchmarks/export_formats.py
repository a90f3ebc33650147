"""Benchmark: what each export format guarantees, measured on one network in one run.

  netx  written and loaded back in netx (export time);
  onnx  written (checked against the emulator), then onnxruntime and the emulator on the same real test
        samples: equality of logits and of every layer's spikes, and samples per second of each;
  nir   written (read back by nir.read), then snnTorch's own NIR importer (an independent reader) on real
        test samples: prediction agreement with the chip model, spike-count correlation per layer, the
        largest logit difference, and samples per second.
Writes benchmarks/results/export_formats.json.

    .venv/bin/python benchmarks/export_formats.py runs/demo --samples 2000 --nir-samples 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--nir-samples", type=int, default=300)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "export_formats.json"))
    a = ap.parse_args()
    import nir
    import onnxruntime
    from test_export_nir import _snntorch_run

    from tna_deploy.engine.emulator import Emulator
    from tna_deploy.export import to_netx
    from tna_deploy.export.nir_writer import write_nir
    from tna_deploy.export.onnx_writer import write_onnx
    from tna_deploy.ir import read_netx
    from tna_deploy.simulate.onnx_backend import OnnxRunner
    from tna_deploy.simulate.run import dataset_inputs

    res = dict(
        run=a.run,
        machine=platform.processor() or platform.machine(),
        cpus=os.cpu_count(),
        onnxruntime_version=onnxruntime.__version__,
        nir_version=nir.__version__,
    )
    with tempfile.TemporaryDirectory() as d:
        paths = {f: os.path.join(d, f"net.{f}") for f in ("net", "onnx", "nir")}
        t0 = time.perf_counter()
        to_netx(a.run, paths["net"])
        res["netx_export_seconds"] = round(time.perf_counter() - t0, 2)
        net = read_netx(paths["net"])
        t0 = time.perf_counter()
        onnx_summary = write_onnx(net, paths["onnx"])
        res["onnx_export_seconds"] = round(time.perf_counter() - t0, 2)
        res["onnx"] = dict(onnx_summary, bytes=os.path.getsize(paths["onnx"]))
        write_nir(net, paths["nir"])
        res["nir"] = dict(bytes=os.path.getsize(paths["nir"]))
        inputs = dataset_inputs(net, paths["net"], a.samples, None, None)
        x = inputs.chunk(0, inputs.n)
        emu, runner = Emulator(net), OnnxRunner(net, open(paths["onnx"], "rb").read())
        t0 = time.perf_counter()
        want = emu.run(x)
        emu_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = [runner.run(x[i : i + 500]) for i in range(0, len(x), 500)]
        ort_s = time.perf_counter() - t0
        logits = np.concatenate([g.logits for g in got])
        spikes_equal = all(
            np.array_equal(np.concatenate([g.spikes[i] for g in got]), want.spikes[i])
            for i in range(len(want.spikes))
        )
        res["onnx"].update(
            samples=len(x),
            logits_equal=bool(np.array_equal(logits, want.logits)),
            spikes_equal=bool(spikes_equal),
            accuracy=float((logits.argmax(1) == inputs.labels).mean() * 100),
            emulator_accuracy=float((want.logits.argmax(1) == inputs.labels).mean() * 100),
            onnxruntime_samples_per_second=round(len(x) / ort_s, 1),
            emulator_samples_per_second=round(len(x) / emu_s, 1),
        )
        k = min(a.nir_samples, len(x))
        t0 = time.perf_counter()
        mems, counts = _snntorch_run(nir.read(paths["nir"]), x[:k])
        snn_s = time.perf_counter() - t0
        ours = np.array([[s[j].sum() for s in want.spikes] for j in range(k)])
        corr = [
            float(np.corrcoef(counts[:, j], ours[:k, j])[0, 1]) if ours[:k, j].std() > 0 else None
            for j in range(ours.shape[1])
        ]
        res["nir"].update(
            samples=k,
            reader="snntorch.import_nir (nirtorch)",
            prediction_agreement_pct=float(
                (mems.argmax(1) == want.logits[:k].argmax(1)).mean() * 100
            ),
            spike_counts_equal=bool(np.array_equal(counts, ours)),
            spike_count_correlation=dict(zip([layer.name for layer in net.compute_layers], corr)),
            max_logit_diff=float(np.abs(mems / 64 - want.logits[:k]).max()),
            accuracy=float((mems.argmax(1) == inputs.labels[:k]).mean() * 100),
            snntorch_samples_per_second=round(k / snn_s, 1),
        )
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
