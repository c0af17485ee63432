#!/usr/bin/env bash
# Ablation: does the fusion's cost go away when its projection starts at zero (the fused model then starts out
# exactly as the baseline)? `boosted-zero` at fraction 0.1, seeds 0 and 1, in the same run folder as run.sh (same
# inputs, subsets, cap and features), so its rows pair with the other variants'. Judged on the validation loss
# (`best_val_loss`), not on the test split. Run from the repository root after run.sh.
set -euo pipefail
B=.venv/bin/booster
D=build/mixing-v2
O=build/separation-v2
R=docs/results/separation-v2
[ -f $O/run/inputs.json ] || { echo "run docs/results/separation-v2/run.sh first (its inputs)"; exit 2; }
$B experiment low-data separation --data $D/proc --out $O/run --fractions 0.1 --seeds ${SEEDS:-2} \
   --variants ${VARIANTS:-boosted-zero} --workers 2 --max-steps 400 --max-minutes 30 \
   --features top.layer2,mid.layer2,readout.layer6
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
