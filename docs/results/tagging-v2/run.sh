#!/usr/bin/env bash
# Tagging with the Booster v2 checkpoint (af68d96b): procedural renders for training, music21 renders
# (real scores, never seen in training) as the out-of-domain test. Run from the repository root.
set -euo pipefail
B=.venv/bin/booster
D=build/tagging-v2
R=docs/results/tagging-v2
mkdir -p $D
[ -d $D/proc ] || { $B data render $D/proc --tracks 150 --seconds 10 --source procedural --synth basic --seed 501
                    $B data render $D/proc --tracks 150 --seconds 10 --source procedural --synth fluidsynth --seed 502 --start-index 151; }
[ -d $D/ood ] || { $B data render $D/ood --tracks 40 --seconds 10 --source music21 --synth basic --seed 503
                   $B data render $D/ood --tracks 40 --seconds 10 --source music21 --synth fluidsynth --seed 504 --start-index 41; }
$B experiment low-data tagging --data $D/proc --out $D/run --fractions 0.1,1.0 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes 5
# out of domain: every music21 track ("--split all": no split has that name, so every track), scored by
# the trained cells without retraining
$B evaluate tagging --run $D/run --data $D/ood --split all --out $D/run/ood-music21
# what is committed: the tables, not the inputs, feature stores or cell weights
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
mkdir -p $R/ood-music21
cp $D/run/ood-music21/results.csv $D/run/ood-music21/summary.md $R/ood-music21/
