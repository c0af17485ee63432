#!/usr/bin/env bash
# Seed 4's `boosted` and `control` cells of separation-v3, trained again so that they can be scored out of domain
# (their weights were lost with session 35's build folder). The run's table is the committed one less the rows
# of those two cells whose weights are not on disk, so the runner trains them alone (same data, subsets, settings;
# 400 steps). Their new in-domain rows
# are compared with the committed ones (a check of determinism across sessions) and replace them; then they are
# scored out of domain and joined with the committed out-of-domain rows (seeds 0-3 and the reused baseline and
# capacity rows). Run from the repository root after docs/results/mixing-v2/run.sh has rendered its data.
set -euo pipefail
B=.venv/bin/booster
D=build/mixing-v2
O=build/separation-v3
R=docs/results/separation-v3
[ -d $D/proc ] && [ -d $D/ood ] || { echo "run docs/results/mixing-v2/run.sh first (its renders)"; exit 2; }
mkdir -p $O/run
[ -f $O/run/results.csv ] || cp $R/results.csv $O/run/results.csv
for v in boosted control; do  # a row without its weights (a new build folder) is trained again
  [ -f $O/run/cells/$v-f0.1-s4.safetensors ] && continue
  grep -vE "^0\.1,4,$v," $O/run/results.csv > $O/run/results.tmp || true
  mv $O/run/results.tmp $O/run/results.csv
done
$B experiment low-data separation --data $D/proc --out $O/run --fractions 0.1 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-steps 400 --max-minutes 30 \
   --features top.layer2,mid.layer2,readout.layer6
grep -E "^0\.1,4,(boosted|control)," $R/results.csv > $O/seed4-committed.csv
grep -E "^0\.1,4,(boosted|control)," $O/run/results.csv > $O/seed4-retrained.csv
paste -d'\n' $O/seed4-committed.csv $O/seed4-retrained.csv | cut -d, -f1-3,9,10,12   # committed / retrained, per variant
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
$B evaluate separation --run $O/run --data $D/ood --split all --out $O/run/ood-music21-fluidr3
cp $R/ood-music21-fluidr3/results.csv $O/ood-earlier.csv
.venv/bin/python scripts/merge_ood.py separation $O/ood-earlier.csv $O/run/ood-music21-fluidr3 $O/run
cp $O/run/ood-music21-fluidr3/results.csv $O/run/ood-music21-fluidr3/summary.md $R/ood-music21-fluidr3/
