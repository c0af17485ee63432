#!/usr/bin/env bash
# Probe every arm of the GPU stage-2 run (scripts/gpu_stage2.sh), whose tars came back in $TARS:
# each is unpacked into a checkpoint folder (its config, weights, training.json and logs), then
# `booster probe` runs on it here, on the CPU, against the same held-out probe set as every other row.
#   TARS=/work/.device/... OUT=build/v2/gpu bash docs/results/booster-v2/gpu_probes.sh
set -euo pipefail
TARS=${TARS:?folder of ARM.tar files}
OUT=${OUT:-build/v2/gpu}
DOCS=${DOCS:-docs/results/booster-v2/gpu}
mkdir -p "$OUT" "$DOCS"
for tar in "$TARS"/*.tar; do
  arm=$(basename "$tar" .tar)
  tar -C "$OUT" -xf "$tar"
  cp "$OUT/$arm/training.json" "$DOCS/$arm.training.json"
  [ -f "$DOCS/$arm.probe.json" ] && continue
  booster probe --model "$OUT/$arm" --out "$DOCS/$arm.probe.json" --markdown "$DOCS/$arm.probe.md" > "$DOCS/$arm.probe.log" 2>&1
done
