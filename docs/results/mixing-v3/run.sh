#!/usr/bin/env bash
# mixing-v2 rerun with the round-9 checkpoint (1cfd160c): the same renders, splits, fraction (0.1), seeds, features
# (top.layer4 and mid.layer4 of each dry stem) and 4-minute wall-clock cap. `baseline` and `capacity` read no booster
# (the capacity projection is fixed, seed 0, as wide as the same features), so their rows and weights are taken from
# mixing-v2's run (scripts/reuse_cells.sh); `boosted` and `control` are trained anew. Run it on an otherwise idle
# machine: the cap is wall clock, as it was for the reused cells. Then every cell is scored out of domain.
set -euo pipefail
B=.venv/bin/booster
OLD=build/mixing-v2
D=build/mixing-v3
R=docs/results/mixing-v3
[ -d $OLD/proc ] || { echo "run docs/results/mixing-v2/run.sh first (data and baseline cells)"; exit 2; }
bash scripts/reuse_cells.sh $OLD/run $D/run 0.1
$B experiment low-data mixing --data $OLD/proc --out $D/run --fractions 0.1 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes 4
$B evaluate mixing --run $D/run --data $OLD/ood --split all --out $D/run/ood-music21-fluidr3
mkdir -p $R/ood-music21-fluidr3
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
cp $D/run/ood-music21-fluidr3/results.csv $D/run/ood-music21-fluidr3/summary.md $R/ood-music21-fluidr3/
