#!/usr/bin/env bash
# transcription-multi rerun with the round-9 checkpoint (1cfd160c): the same data, splits, seeds, settings and
# features (readout.layer6 beside mid.layer2 and top.layer2) as docs/results/transcription-multi/. FRACTIONS
# (default 0.1) says which fractions; VARIANTS which variants.
# The `baseline` and `capacity` cells do not read the booster (the capacity projection is fixed, seed 0, of the
# same width): where transcription-multi's run is on disk (build/transcription-multi/run) their rows and weights
# are taken from it and the runner skips them; otherwise (a fresh checkout: build/ does not outlive a session) they
# are trained here too. Cells already in the committed results.csv are not trained again, and their committed
# out-of-domain rows are kept beside the new ones (scripts/merge_ood.py). Every cell trained here is scored out of
# domain without retraining, as there.
# Run from the repository root; it renders transcription-multi's data if it is missing (same commands and seeds).
set -euo pipefail
B=.venv/bin/booster
OLD=build/transcription-multi
D=build/transcription-multi-v2
R=docs/results/transcription-multi-v2
MINUTES=${MINUTES:-5}
FRACTIONS=${FRACTIONS:-0.1}
bash docs/results/transcription-multi/render.sh $OLD
mkdir -p $D/run
[ -f $D/run/results.csv ] || cp $R/results.csv $D/run/results.csv
[ -f $OLD/run/results.csv ] && bash scripts/reuse_cells.sh $OLD/run $D/run $FRACTIONS
$B experiment low-data transcription --data $OLD/mixes --out $D/run --fractions $FRACTIONS --seeds 5 \
   --variants ${VARIANTS:-baseline,boosted,control,capacity} --workers 2 --max-minutes $MINUTES \
   --features readout.layer6,mid.layer2,top.layer2
mkdir -p $R
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
for ood in ood-fluidr3 ood-music21; do
  $B evaluate transcription --run $D/run --data $OLD/$ood --split all --out $D/run/$ood
  git show HEAD:$R/$ood/results.csv > $D/$ood-earlier.csv
  .venv/bin/python scripts/merge_ood.py transcription $D/$ood-earlier.csv $D/run/$ood $D/run
  mkdir -p $R/$ood
  cp $D/run/$ood/results.csv $D/run/$ood/summary.md $R/$ood/
done
