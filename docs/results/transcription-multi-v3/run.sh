#!/usr/bin/env bash
# transcription-multi-v2 rerun with the round-14 checkpoint (616ecf70, bundled): the same data, splits, seeds,
# settings and features (readout.layer6 beside mid.layer2 and top.layer2). 616ecf70's priors are 1cfd160c's tensor
# for tensor, so only readout.layer6 differs from transcription-multi-v2's inputs. FRACTIONS (default 0.1) says
# which fractions are trained, SEEDS (default 5) how many seeds.
# Trained here: `boosted` (reads the new booster) and `control` (random weights: a check of determinism against
# transcription-multi-v2's control cells). `baseline` and `capacity` read no booster: their rows are taken from the
# committed transcription-multi-v2 results (in domain and out of domain), as transcription-multi-v2 took them from
# transcription-multi. Rows already committed here are kept and their cells not trained again. Every cell trained
# here is scored out of domain without retraining, as there, and joined with the committed out-of-domain rows.
# Run from the repository root; it renders transcription-multi's data if it is missing (same commands and seeds).
set -euo pipefail
B=.venv/bin/booster
DATA=build/transcription-multi
D=build/transcription-multi-v3
R=docs/results/transcription-multi-v3
V2=docs/results/transcription-multi-v2
MINUTES=${MINUTES:-5}
FRACTIONS=${FRACTIONS:-0.1}
bash docs/results/transcription-multi/render.sh $DATA
mkdir -p $D/run
# table DEST NAME: DEST holds NAME's committed rows here (or transcription-multi-v2's header for a first run), and
# then transcription-multi-v2's reused baseline / capacity rows of every fraction in FRACTIONS it lacks
table() {
  [ -f "$1" ] || if [ -f "$R/$2" ]; then cp "$R/$2" "$1"; else head -1 "$V2/$2" > "$1"; fi
  for f in ${FRACTIONS//,/ }; do
    grep -qE "^$f,[0-9]+,baseline," "$1" || scripts/keep_rows.sh "$V2/$2" "$f" | tail -n +2 >> "$1"
  done
}
table $D/run/results.csv results.csv
$B experiment low-data transcription --data $DATA/mixes --out $D/run --fractions $FRACTIONS --seeds ${SEEDS:-5} \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes $MINUTES \
   --features readout.layer6,mid.layer2,top.layer2
mkdir -p $R
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
for ood in ood-fluidr3 ood-music21; do
  $B evaluate transcription --run $D/run --data $DATA/$ood --split all --out $D/run/$ood
  rm -f $D/$ood-earlier.csv && table $D/$ood-earlier.csv $ood/results.csv
  .venv/bin/python scripts/merge_ood.py transcription $D/$ood-earlier.csv $D/run/$ood $D/run
  mkdir -p $R/$ood
  cp $D/run/$ood/results.csv $D/run/$ood/summary.md $R/$ood/
done
