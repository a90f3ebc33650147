#!/usr/bin/env bash
# The README's demo on real Fashion-MNIST: train a TNA ternary network (the `small` recipe, 2 epochs of all
# 60,000 images, ternary from the second; --preset demo),
# export its base to lava-dl netx HDF5 (and to ONNX and NIR), run the whole test set in tna-deploy's bit-exact emulator with
# spike-for-spike parity against the PyTorch model, run 20 samples in Lava's Loihi 2 simulator and
# check that the emulator computes exactly what Lava computes, and write the hardware report from the
# emulator's counts (committed as the example under export/demo-report/). Re-running re-uses the run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/demo}
NAME=$(basename "$RUN")
TNA=.venv/bin/tna-deploy
echo "== 1/8 train ($RUN) ==" >&2
RESUME=""   # continue a run this script started before (train refuses --resume of an empty folder)
if [ -f "$RUN/checkpoint.pt" ] || [ -f "$RUN/config.json" ]; then RESUME="--resume"; fi
$TNA train --preset demo --dataset fashion-mnist --method tna --weights ternary --out "$RUN" $RESUME
echo "== 2/8 evaluate ==" >&2
$TNA evaluate "$RUN"
echo "== 3/8 export -> export/$NAME.net ==" >&2
$TNA export "$RUN" --format netx --out "export/$NAME.net"
echo "== 4/8 export ONNX (integer-exact, checked in onnxruntime) and NIR (for snnTorch, Norse, SpiNNaker2, ...) ==" >&2
$TNA export "export/$NAME.net" --format onnx --out "export/$NAME.onnx"
$TNA export "export/$NAME.net" --format nir --out "export/$NAME.nir"
echo "== 5/8 simulate the whole test set in the emulator, parity with PyTorch on every sample ==" >&2
$TNA simulate "export/$NAME.net" --dataset fashion-mnist --samples all --backend emulator --run "$RUN" --out "sim/$NAME"
echo "== 6/8 simulate 20 samples in Lava (Loihi2SimCfg fixed_pt) and in the emulator: equal spike for spike ==" >&2
$TNA simulate "export/$NAME.net" --dataset fashion-mnist --samples 20 --backend lava,emulator --run "$RUN" \
    --out "sim/$NAME-lava"
echo "== 7/8 run the ONNX file on 1,000 test samples in onnxruntime: equal to PyTorch, logits and spikes ==" >&2
$TNA simulate "export/$NAME.onnx" --dataset fashion-mnist --samples 1000 --backend onnx --run "$RUN" --out "sim/$NAME-onnx"
echo "== 8/8 report from the emulator's counts -> export/$NAME-report ==" >&2
$TNA report "sim/$NAME" --hardware loihi2 --netx "export/$NAME.net" --out "export/$NAME-report" --format json,md,html
