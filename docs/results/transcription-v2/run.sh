#!/usr/bin/env bash
# Piano transcription with the Booster v2 checkpoint (af68d96b) at fraction 0.1 (24 labelled tracks), 5 seeds:
# music21 chorales on FluidSynth piano (TimGM6mb) for training; out of domain, the same kind of scores
# rendered with a SoundFont the training renders did not use (FluidR3_GM). Run from the repository root.
set -euo pipefail
B=.venv/bin/booster
D=build/transcription-v2
R=docs/results/transcription-v2
bash docs/results/transcription-v2/render.sh $D
$B experiment low-data transcription --data $D/piano --out $D/run --fractions 0.1 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes 4
$B evaluate transcription --run $D/run --data $D/ood --split all --out $D/run/ood-fluidr3
# what is committed: the tables, not the inputs, feature stores or cell weights
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
mkdir -p $R/ood-fluidr3
cp $D/run/ood-fluidr3/results.csv $D/run/ood-fluidr3/summary.md $R/ood-fluidr3/
