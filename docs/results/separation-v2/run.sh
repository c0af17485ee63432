#!/usr/bin/env bash
# Separation (a small HTDemucs) with the round-9 checkpoint (1cfd160c) at fraction 0.1 (12 labelled tracks), 5 seeds,
# four variants, on mixing-v2's renders (procedural scores on TimGM6mb, seed 701: 120/15/15 tracks); out of domain,
# mixing-v2's real scores (music21) on FluidR3_GM, a SoundFont the training renders did not use.
# The boosted and control models read the task's prior layers and the readout's last layer, as tagging-v4 does.
# Cells stop at 400 steps (or on validation patience) rather than on a wall-clock cap, so that what a cell learns
# does not depend on what else the machine was doing. Run from the repository root.
# SEEDS and VARIANTS pick the cells (ablations too, e.g. SEEDS=2 VARIANTS=boosted-zero: the zero-init ablation).
set -euo pipefail
B=.venv/bin/booster
D=build/mixing-v2
O=build/separation-v2
R=docs/results/separation-v2
[ -d $D/proc ] && [ -d $D/ood ] || { echo "run docs/results/mixing-v2/run.sh first (its renders)"; exit 2; }
mkdir -p $O/run
# cells committed by an earlier session are not trained again (the runner skips the cells results.csv holds)
[ -f $O/run/results.csv ] || cp $R/results.csv $O/run/results.csv
$B experiment low-data separation --data $D/proc --out $O/run --fractions 0.1 --seeds ${SEEDS:-5} \
   --variants ${VARIANTS:-baseline,boosted,control,capacity} --workers 2 --max-steps 400 --max-minutes 30 \
   --features top.layer2,mid.layer2,readout.layer6
$B evaluate separation --run $O/run --data $D/ood --split all --out $O/run/ood-music21-fluidr3
# cells trained in an earlier session have no weights here (build/ does not outlive a session): keep their
# committed out-of-domain rows beside the new ones
git show HEAD:$R/ood-music21-fluidr3/results.csv > $O/ood-earlier.csv
.venv/bin/python scripts/merge_ood.py separation $O/ood-earlier.csv $O/run/ood-music21-fluidr3 $O/run
# what is committed: the tables, not the inputs, feature stores or cell weights
mkdir -p $R/ood-music21-fluidr3
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
cp $O/run/ood-music21-fluidr3/results.csv $O/run/ood-music21-fluidr3/summary.md $R/ood-music21-fluidr3/
