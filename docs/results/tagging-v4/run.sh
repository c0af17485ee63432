#!/usr/bin/env bash
# tagging-v3 rerun with the round-9 checkpoint (1cfd160c): tagging-v2's data, splits, subsets and seeds, tagging-v3's
# variants, cap and features (readout.layer6 beside top.layer4 and mid.layer4). FRACTIONS (default 0.1) says which.
# `baseline` and `capacity` read no booster features (the capacity projection is fixed, seed 0, as wide as before):
# where tagging-v3's run is on disk their rows and weights are taken from it and skipped; otherwise (a fresh
# checkout: build/ does not outlive a session) they are trained here too. Cells already in the committed
# results.csv are not trained again, and their committed out-of-domain rows are kept beside the new ones.
# VARIANTS picks variants (ablations too, e.g. FRACTIONS=0.1,1.0 VARIANTS=boosted-drop: the feature-dropout ablation).
# Run from the repository root; it renders tagging-v2's data if it is missing (same commands and seeds).
set -euo pipefail
B=.venv/bin/booster
D=build/tagging-v2
OLD=build/tagging-v3
O=build/tagging-v4
R=docs/results/tagging-v4
FRACTIONS=${FRACTIONS:-0.1}
[ -d $D/proc ] || { $B data render $D/proc --tracks 150 --seconds 10 --source procedural --synth basic --seed 501
                    $B data render $D/proc --tracks 150 --seconds 10 --source procedural --synth fluidsynth --seed 502 --start-index 151; }
[ -d $D/ood ] || { $B data render $D/ood --tracks 40 --seconds 10 --source music21 --synth basic --seed 503
                   $B data render $D/ood --tracks 40 --seconds 10 --source music21 --synth fluidsynth --seed 504 --start-index 41; }
mkdir -p $O/run
[ -f $O/run/results.csv ] || cp $R/results.csv $O/run/results.csv
[ -f $OLD/run/results.csv ] && bash scripts/reuse_cells.sh $OLD/run $O/run $FRACTIONS
$B experiment low-data tagging --data $D/proc --out $O/run --fractions $FRACTIONS --seeds 5 \
   --variants ${VARIANTS:-baseline,boosted,control,capacity} --workers 2 --max-minutes 5 \
   --features readout.layer6,top.layer4,mid.layer4
$B evaluate tagging --run $O/run --data $D/ood --split all --out $O/run/ood-music21
git show HEAD:$R/ood-music21/results.csv > $O/ood-earlier.csv
.venv/bin/python scripts/merge_ood.py tagging $O/ood-earlier.csv $O/run/ood-music21 $O/run
mkdir -p $R/ood-music21
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
cp $O/run/ood-music21/results.csv $O/run/ood-music21/summary.md $R/ood-music21/
