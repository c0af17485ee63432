#!/usr/bin/env bash
# Piano transcription with the round-6 checkpoint (e147b419: af68d96b + the readout distilled from Basic Pitch)
# at fraction 0.1 (24 labelled tracks), 5 seeds, the boosted model reading the readout's last layer next to
# the task's default prior layers. Same data, splits, subsets, seeds and cap as transcription-v2 (whose data
# this reuses: run docs/results/transcription-v2/run.sh first, or let the two render steps below make it).
set -euo pipefail
B=.venv/bin/booster
D=build/transcription-v2
O=build/transcription-v3
R=docs/results/transcription-v3
mkdir -p $D $O
bash docs/results/transcription-v2/render.sh $D
$B experiment low-data transcription --data $D/piano --out $O/run --fractions 0.1 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes 4 \
   --features readout.layer6,mid.layer2,top.layer2
$B evaluate transcription --run $O/run --data $D/ood --split all --out $O/run/ood-fluidr3
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
mkdir -p $R/ood-fluidr3
cp $O/run/ood-fluidr3/results.csv $O/run/ood-fluidr3/summary.md $R/ood-fluidr3/
