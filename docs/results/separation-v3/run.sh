#!/usr/bin/env bash
# separation-v2 at fraction 0.1 rerun with the round-14 checkpoint (616ecf70, bundled): the same data, splits, seeds,
# settings and features (top.layer2, mid.layer2 and the readout's last layer). 616ecf70's priors are 1cfd160c's
# tensor for tensor, so only readout.layer6 differs from separation-v2's inputs.
# Trained here: `boosted` (reads the new booster) and `control` (random weights of the same architecture).
# `baseline` and `capacity` read no booster: their rows are separation-v2's (in domain and out of domain), as
# transcription-multi-v3 did. Every cell trained here is scored out of domain without retraining.
# Run from the repository root after docs/results/mixing-v2/run.sh has rendered its data.
set -euo pipefail
B=.venv/bin/booster
D=build/mixing-v2
O=build/separation-v3
R=docs/results/separation-v3
V2=docs/results/separation-v2
[ -d $D/proc ] && [ -d $D/ood ] || { echo "run docs/results/mixing-v2/run.sh first (its renders)"; exit 2; }
mkdir -p $O/run
[ -f $O/run/results.csv ] || scripts/keep_rows.sh $V2/results.csv 0.1 > $O/run/results.csv
$B experiment low-data separation --data $D/proc --out $O/run --fractions 0.1 --seeds ${SEEDS:-5} \
   --variants ${VARIANTS:-baseline,boosted,control,capacity} --workers 2 --max-steps 400 --max-minutes 30 \
   --features top.layer2,mid.layer2,readout.layer6
mkdir -p $R/ood-music21-fluidr3
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
$B evaluate separation --run $O/run --data $D/ood --split all --out $O/run/ood-music21-fluidr3
scripts/keep_rows.sh $V2/ood-music21-fluidr3/results.csv 0.1 > $O/ood-earlier.csv
.venv/bin/python scripts/merge_ood.py separation $O/ood-earlier.csv $O/run/ood-music21-fluidr3 $O/run
cp $O/run/ood-music21-fluidr3/results.csv $O/run/ood-music21-fluidr3/summary.md $R/ood-music21-fluidr3/
