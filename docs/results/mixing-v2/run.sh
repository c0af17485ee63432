#!/usr/bin/env bash
# Automatic mixing with the Booster v2 checkpoint (af68d96b) at fraction 0.1 (12 labelled tracks), 5 seeds,
# four variants: procedural scores on FluidSynth (TimGM6mb) for training; out of domain, real scores
# (music21) rendered with a SoundFont the training renders did not use (FluidR3_GM). Run from the repository root.
set -euo pipefail
B=.venv/bin/booster
D=build/mixing-v2
R=docs/results/mixing-v2
bash docs/results/mixing-v2/render.sh $D
$B experiment low-data mixing --data $D/proc --out $D/run --fractions 0.1 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes 4
$B evaluate mixing --run $D/run --data $D/ood --split all --out $D/run/ood-music21-fluidr3
# what is committed: the tables, not the inputs, feature stores or cell weights
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
mkdir -p $R/ood-music21-fluidr3
cp $D/run/ood-music21-fluidr3/results.csv $D/run/ood-music21-fluidr3/summary.md $R/ood-music21-fluidr3/
