#!/usr/bin/env bash
# Round 10, CPU part: unpack the arms the GPU trained (scripts/gpu_stage2.sh: ARM.safetensors + small.tar in
# FILES, the device tool's files folder), probe each, pair it with the bundled 1cfd160c (round 9's merged
# probe: same probe set, splits and tag subsets) and score the validation tags that the shipping rule reads.
#   FILES=/work/.device/N bash docs/results/booster-v2/round10/probe_arms.sh [ARM ...]
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ARMS=${*:-cont-readout-bp cont-prior-bpkt cont-prior-bpktc}
GPU=${GPU:-build/s30/gpu}
DOCS=${DOCS:-docs/results/booster-v2/round10}
PY=.venv/bin/python
mkdir -p "$GPU"
if [ -n "${FILES:-}" ]; then
  tar -xf "$FILES/small.tar" -C "$GPU"
  for arm in $ARMS; do
    [ -f "$FILES/$arm.safetensors" ] && cp "$FILES/$arm.safetensors" "$GPU/$arm/model.safetensors"
  done
fi
for arm in $ARMS; do
  [ -f "$DOCS/$arm.probe.json" ] && continue
  $PY -m booster.cli probe --model "$GPU/$arm" --out "$DOCS/$arm.probe.json" \
    --markdown "$DOCS/$arm.probe.md" > "$DOCS/$arm.probe.log" 2>&1
  $PY docs/results/booster-v2/paired_arms.py "$DOCS/$arm.probe.json" \
    docs/results/booster-v2/round9/merged.probe.json > "$DOCS/paired-$arm-vs-shipped.txt"
  $PY docs/results/booster-v2/round8/tag_breakdown.py "$GPU/$arm" val > "$DOCS/tag_breakdown-$arm-val.md"
done
$PY docs/results/booster-v2/round9/val_figures.py docs/results/booster-v2/round9/merged.probe.json \
  $(for arm in $ARMS; do echo "$DOCS/$arm.probe.json"; done)
