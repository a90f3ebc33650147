#!/usr/bin/env bash
# The installed tna-deploy (a wheel in a fresh venv) on the committed examples/small: simulate in the
# emulator -> report -> export onnx -> simulate the ONNX file in onnxruntime, each through the console
# script, from a folder outside the checkout; the predictions and logits must be those computed on
# CPython 3.10 (examples/small/expected.json).
#   bash scripts/smoke.sh VENV        (VENV: a venv with tna-deploy[onnx] installed)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:?usage: smoke.sh VENV}/bin" && pwd)
EX=$ROOT/examples/small
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$BIN/python" -c 'import sys; print("smoke: CPython %d.%d.%d" % sys.version_info[:3])'
"$BIN/python" -c 'from tna_deploy.engine import cuba_ext
assert cuba_ext.get() is not None, "the fused CUBA kernel did not build"
print("smoke: fused CUBA kernel built")'
"$BIN/tna-deploy" simulate "$EX/small.net" --input "$EX/input.npy" --out sim
"$BIN/tna-deploy" report sim --out report --format json,md
"$BIN/tna-deploy" export "$EX/small.net" --format onnx --out small.onnx
"$BIN/tna-deploy" simulate small.onnx --input "$EX/input.npy" --backend onnx,emulator --out sim-onnx
"$BIN/python" - "$EX/expected.json" <<'EOF'
import json, sys

import numpy as np

want = json.load(open(sys.argv[1]))
for sim, src in (("sim", "emulator"), ("sim-onnx", "onnx"), ("sim-onnx", "emulator")):
    got = json.load(open(f"{sim}/results.json"))[src]["predictions"]
    logits = np.load(f"{sim}/counts.npz")[f"{src}_logits"]
    assert got == want["predictions"], f"{sim} {src}: predictions {got} != {want['predictions']}"
    assert np.array_equal(logits, np.array(want["logits"])), f"{sim} {src}: logits differ"
assert json.load(open("report/report.json")), "empty report"
print("smoke: the emulator and onnxruntime give CPython 3.10's predictions and logits")
EOF
