#!/usr/bin/env bash
# Ablation: the fused tagger stops early on validation (best step 100-350 at fraction 1.0 against the baseline's
# 1600-2500). Does dropping half of the booster feature values in training (`boosted-drop`, `control-drop`:
# booster.fusion's dropout=0.5) let it train as long and as well as the baseline? Same run folder as run.sh (same
# inputs, subsets, seeds, cap and features), fractions 0.1 and 1.0 by default. Judged on the validation loss.
# Run from the repository root after run.sh.
set -euo pipefail
B=.venv/bin/booster
D=build/tagging-v2
O=build/tagging-v4
R=docs/results/tagging-v4
[ -f $O/run/inputs.json ] || { echo "run docs/results/tagging-v4/run.sh first (its inputs)"; exit 2; }
$B experiment low-data tagging --data $D/proc --out $O/run --fractions ${FRACTIONS:-0.1,1.0} --seeds 5 \
   --variants ${VARIANTS:-boosted-drop} --workers 2 --max-minutes 5 \
   --features readout.layer6,top.layer4,mid.layer4
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
