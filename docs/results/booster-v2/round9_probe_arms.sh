#!/usr/bin/env bash
# Round 9, CPU part: probe the arms trained on the GPU (scripts/gpu_stage2.sh, arms prior-bp prior-bpkt
# readout-bp, whose weights and small.tar were unpacked into build/s21/gpu/ARM), each paired with the
# bundled 6cca35c5 (round 7's probe) over the same test tracks and tag subsets.
#   bash docs/results/booster-v2/round9_probe_arms.sh [ARM ...]
set -euo pipefail
cd "$(dirname "$0")/../../.."
ARMS=${*:-readout-bp prior-bp prior-bpkt}
GPU=${GPU:-build/s21/gpu}
DOCS=docs/results/booster-v2/round9
mkdir -p "$DOCS"
for arm in $ARMS; do
  [ -f "$DOCS/$arm.probe.json" ] && continue
  .venv/bin/python -m booster.cli probe --model "$GPU/$arm" --out "$DOCS/$arm.probe.json" \
    --markdown "$DOCS/$arm.probe.md" > "$DOCS/$arm.probe.log" 2>&1
  .venv/bin/python docs/results/booster-v2/paired_arms.py "$DOCS/$arm.probe.json" \
    docs/results/booster-v2/round7/readout-longer.probe.json > "$DOCS/paired-$arm-vs-shipped.txt"
done
