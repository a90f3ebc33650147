#!/usr/bin/env bash
# The README's demo on real Fashion-MNIST: train a TNA ternary network (the `small` recipe, 2 epochs of all
# 60,000 images, ternary from the second; --preset demo),
# export its base to lava-dl netx HDF5, run the whole test set in tna-deploy's bit-exact emulator with
# spike-for-spike parity against the PyTorch model, run 20 samples in Lava's Loihi 2 simulator and
# check that the emulator computes exactly what Lava computes, and write the hardware report from the
# emulator's counts (committed as the example under export/demo-report/). Re-running re-uses the run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/demo}
NAME=$(basename "$RUN")
TNA=.venv/bin/tna-deploy
echo "== 1/6 train ($RUN) ==" >&2
$TNA train --preset demo --dataset fashion-mnist --method tna --weights ternary --out "$RUN" --resume
echo "== 2/6 evaluate ==" >&2
$TNA evaluate "$RUN"
echo "== 3/6 export -> export/$NAME.net ==" >&2
$TNA export "$RUN" --format netx --out "export/$NAME.net"
echo "== 4/6 simulate the whole test set in the emulator, parity with PyTorch on every sample ==" >&2
$TNA simulate "export/$NAME.net" --dataset fashion-mnist --samples all --backend emulator --run "$RUN" --out "sim/$NAME"
echo "== 5/6 simulate 20 samples in Lava (Loihi2SimCfg fixed_pt) and in the emulator: equal spike for spike ==" >&2
$TNA simulate "export/$NAME.net" --dataset fashion-mnist --samples 20 --backend lava,emulator --run "$RUN" \
    --out "sim/$NAME-lava"
echo "== 6/6 report from the emulator's counts -> export/$NAME-report ==" >&2
$TNA report "sim/$NAME" --hardware loihi2 --netx "export/$NAME.net" --out "export/$NAME-report" --format json,md,html
