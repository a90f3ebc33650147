#!/usr/bin/env bash
# The README's demo: train a TNA ternary CIFARNet (1/8 width) on real Fashion-MNIST, then evaluate it.
# Re-running continues (or re-uses) the same run directory.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/demo}
TNA=.venv/bin/tna-deploy
echo "== train ($RUN) ==" >&2
$TNA train --preset cpu --dataset fashion-mnist --method tna --weights ternary --out "$RUN" --resume
echo "== evaluate ==" >&2
$TNA evaluate "$RUN"
