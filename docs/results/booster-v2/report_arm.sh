#!/usr/bin/env bash
# What every readout arm of rounds 14-15 wrote after training: its training record and metrics, the probe, the
# probe paired with its parent's, the per-tag validation breakdown and the validation figures the shipping rule
# reads (the frame mean, then the macro row of the breakdown: booster:all is its 4th column).
#   bash docs/results/booster-v2/report_arm.sh ARM_DIR DOCS PARENT_PROBE_JSON PARENT_LABEL
set -euo pipefail
ARM=$1 DOCS=$2 PARENT=$3 LABEL=$4
NAME=$(basename "$ARM")
cp "$ARM/training.json" "$DOCS/$NAME.training.json"
cp "$(find "$ARM/logs" -name metrics.csv | head -1)" "$DOCS/$NAME.metrics.csv"
.venv/bin/python -m booster.cli probe --model "$ARM" --out "$DOCS/$NAME.probe.json" \
  --markdown "$DOCS/$NAME.probe.md" > "$DOCS/$NAME.probe.log" 2>&1
.venv/bin/python docs/results/booster-v2/paired_arms.py "$DOCS/$NAME.probe.json" "$PARENT" \
  > "$DOCS/paired-$NAME-vs-$LABEL.txt"
.venv/bin/python docs/results/booster-v2/round8/tag_breakdown.py "$ARM" val > "$DOCS/tag_breakdown-$NAME-val.md"
.venv/bin/python docs/results/booster-v2/round9/val_figures.py "$PARENT" "$DOCS/$NAME.probe.json" \
  > "$DOCS/val_figures-$NAME.txt"
sed -n 29p "$DOCS/tag_breakdown-$NAME-val.md" >> "$DOCS/val_figures-$NAME.txt"
cat "$DOCS/val_figures-$NAME.txt"
