#!/usr/bin/env bash
# Automatic mixing with the bundled checkpoint (616ecf70), converged cells: mixing-v3's data, splits, subsets, seeds
# and features (top.layer4 and mid.layer4 of each dry stem; 616ecf70 shares them tensor for tensor with 1cfd160c),
# with every cell stopped by validation patience under a wall-clock cap of MINUTES (default 15) instead of
# mixing-v3's 4 minutes, which stopped all 20 of its cells. All four variants are trained here (no capped row is
# reused). FRACTIONS (default 0.1) and SEEDS (default 5) say what is trained; rows already in
# build/mixing-v4/run/results.csv are kept and their cells not trained again, so another FRACTIONS or a longer SEEDS
# extends a run. Then every cell is scored out of domain (real scores, music21, on FluidR3_GM).
# VARIANTS (default the four variants) adds others to the same run, e.g. the -rule ablations (session 39:
# VARIANTS=baseline-rule,boosted-rule,control-rule,capacity-rule SEEDS=5 MINUTES=25).
# Run from the repository root on an otherwise idle machine (the cap is wall clock). A session's build folder does not
# outlive it: a new one starts from the committed rows (the runner skips their cells), and `booster evaluate --keep`
# carries the committed out-of-domain rows of the cells whose weights are gone (session 40 did this).
set -euo pipefail
B=.venv/bin/booster
D=build/mixing-v2
O=build/mixing-v4
R=docs/results/mixing-v4
mkdir -p $O/run
bash docs/results/mixing-v2/render.sh $D
[ -f $O/run/results.csv ] || cp $R/results.csv $O/run/results.csv
$B experiment low-data mixing --data $D/proc --out $O/run --fractions ${FRACTIONS:-0.1} --seeds ${SEEDS:-5} \
   --variants ${VARIANTS:-baseline,boosted,control,capacity} --workers 2 --max-minutes ${MINUTES:-15}
$B evaluate mixing --run $O/run --data $D/ood --split all --out $O/run/ood-music21-fluidr3 \
   --keep $R/ood-music21-fluidr3/results.csv
# what is committed: the tables, not the inputs, feature stores or cell weights
mkdir -p $R/ood-music21-fluidr3
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
cp $O/run/ood-music21-fluidr3/results.csv $O/run/ood-music21-fluidr3/summary.md $R/ood-music21-fluidr3/
