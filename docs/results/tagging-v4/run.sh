#!/usr/bin/env bash
# tagging-v3 rerun with the round-9 checkpoint (1cfd160c): tagging-v2's data, splits, subsets and seeds, tagging-v3's
# variants, cap and features (readout.layer6 beside top.layer4 and mid.layer4). FRACTIONS (default 0.1) says which.
# `baseline` and `capacity` read no booster features (the capacity projection is fixed, seed 0, as wide as before):
# their rows and weights are taken from tagging-v3's run and skipped; `boosted` and `control` are trained anew.
set -euo pipefail
B=.venv/bin/booster
D=build/tagging-v2
OLD=build/tagging-v3
O=build/tagging-v4
R=docs/results/tagging-v4
FRACTIONS=${FRACTIONS:-0.1}
[ -f $OLD/run/results.csv ] || { echo "run docs/results/tagging-v3/run.sh first (data and baseline cells)"; exit 2; }
bash scripts/reuse_cells.sh $OLD/run $O/run $FRACTIONS
$B experiment low-data tagging --data $D/proc --out $O/run --fractions $FRACTIONS --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes 5 \
   --features readout.layer6,top.layer4,mid.layer4
$B evaluate tagging --run $O/run --data $D/ood --split all --out $O/run/ood-music21
mkdir -p $R/ood-music21
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
cp $O/run/ood-music21/results.csv $O/run/ood-music21/summary.md $R/ood-music21/
