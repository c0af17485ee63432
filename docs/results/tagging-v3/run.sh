#!/usr/bin/env bash
# Tagging with the round-7 checkpoint (6cca35c5: af68d96b + the readout distilled from Basic Pitch, trained
# 55 min in all): tagging-v2's data, splits, subsets, seeds, variants and cap, the boosted and control models
# reading the readout's last layer beside the task's default prior layers (top.layer4, mid.layer4). Out of
# domain: the same 80 music21 renders as tagging-v2. Run from the repository root; it makes tagging-v2's data
# if it is missing (same commands and seeds).
set -euo pipefail
B=.venv/bin/booster
D=build/tagging-v2
O=build/tagging-v3
R=docs/results/tagging-v3
mkdir -p $D $O
[ -d $D/proc ] || { $B data render $D/proc --tracks 150 --seconds 10 --source procedural --synth basic --seed 501
                    $B data render $D/proc --tracks 150 --seconds 10 --source procedural --synth fluidsynth --seed 502 --start-index 151; }
[ -d $D/ood ] || { $B data render $D/ood --tracks 40 --seconds 10 --source music21 --synth basic --seed 503
                   $B data render $D/ood --tracks 40 --seconds 10 --source music21 --synth fluidsynth --seed 504 --start-index 41; }
$B experiment low-data tagging --data $D/proc --out $O/run --fractions 0.05,0.1,0.25,1.0 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes 5 \
   --features readout.layer6,top.layer4,mid.layer4
$B evaluate tagging --run $O/run --data $D/ood --split all --out $O/run/ood-music21
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
mkdir -p $R/ood-music21
cp $O/run/ood-music21/results.csv $O/run/ood-music21/summary.md $R/ood-music21/
