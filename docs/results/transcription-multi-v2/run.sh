#!/usr/bin/env bash
# transcription-multi rerun with the round-9 checkpoint (1cfd160c): the same data, splits, fraction (0.1), seeds,
# settings and features (readout.layer6 beside mid.layer2 and top.layer2) as docs/results/transcription-multi/.
# The `baseline` and `capacity` cells do not read the booster (the capacity projection is fixed, seed 0, of the
# same width), so their rows and weights are taken from that run (build/transcription-multi/run) and the runner
# skips them; `boosted` and `control` (the booster at random weights) are trained anew. Then every cell is scored
# out of domain without retraining, as there.
set -euo pipefail
B=.venv/bin/booster
OLD=build/transcription-multi
D=build/transcription-multi-v2
R=docs/results/transcription-multi-v2
MINUTES=${MINUTES:-5}
[ -d $OLD/mixes ] || { echo "run docs/results/transcription-multi/run.sh first (data and baseline cells)"; exit 2; }
bash scripts/reuse_cells.sh $OLD/run $D/run 0.1
$B experiment low-data transcription --data $OLD/mixes --out $D/run --fractions 0.1 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes $MINUTES \
   --features readout.layer6,mid.layer2,top.layer2
for ood in ood-fluidr3 ood-music21; do
  $B evaluate transcription --run $D/run --data $OLD/$ood --split all --out $D/run/$ood
done
mkdir -p $R
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
for ood in ood-fluidr3 ood-music21; do
  mkdir -p $R/$ood
  cp $D/run/$ood/results.csv $D/run/$ood/summary.md $R/$ood/
done
