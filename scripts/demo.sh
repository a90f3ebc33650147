#!/usr/bin/env bash
# The README's demo on real Fashion-MNIST: train a TNA ternary CIFARNet (1/8 width, 2 short epochs),
# export its base to lava-dl netx HDF5, run 20 test samples in Lava's Loihi 2 simulator and check
# them spike for spike against the PyTorch model, and write the hardware report (committed as the
# example under export/demo-report/). Re-running re-uses the finished run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/demo}
NAME=$(basename "$RUN")
TNA=.venv/bin/tna-deploy
echo "== 1/5 train ($RUN) ==" >&2
$TNA train --preset cpu --dataset fashion-mnist --method tna --weights ternary --out "$RUN" --resume
echo "== 2/5 evaluate ==" >&2
$TNA evaluate "$RUN"
echo "== 3/5 export -> export/$NAME.net ==" >&2
$TNA export "$RUN" --format netx --out "export/$NAME.net"
echo "== 4/5 simulate in Lava (Loihi2SimCfg fixed_pt), 20 samples ==" >&2
$TNA simulate "export/$NAME.net" --dataset fashion-mnist --samples 20 --backend lava --run "$RUN" --out "sim/$NAME"
echo "== 5/5 report -> export/$NAME-report ==" >&2
$TNA report "sim/$NAME" --hardware loihi2 --netx "export/$NAME.net" --out "export/$NAME-report" --format json,md,html
