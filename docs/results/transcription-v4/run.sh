#!/usr/bin/env bash
# Piano transcription with the bundled round-9 checkpoint (1cfd160c) at fraction 0.1 (24 labelled tracks), 5 seeds,
# baseline / boosted / random-weights control / capacity control. The same data, splits, subsets, seeds and
# features (readout.layer6 beside mid.layer2 and top.layer2) as transcription-v3, with a longer wall-clock cap:
# transcription-v3's cells ran 4 minutes and 19 of 20 hit the cap (the baselines' best step was their last),
# so MINUTES (default 8) gives each cell twice that to stop by validation patience. Run it on an otherwise idle
# machine: the cap is wall clock. Then every cell is scored out of domain (FluidR3_GM, a SoundFont the training
# renders did not use) without retraining.
set -euo pipefail
B=.venv/bin/booster
D=build/transcription-v2
O=build/transcription-v4
R=docs/results/transcription-v4
MINUTES=${MINUTES:-8}
SF=${SF:-build/v2/sf/fluid-soundfont-gm/usr/share/sounds/sf2/FluidR3_GM.sf2}   # booster data fetch-soundfont
mkdir -p $D $O
[ -d $D/piano ] || $B data render $D/piano --tracks 300 --seconds 10 --source music21 --synth fluidsynth \
                     --ensemble piano --seed 601
[ -d $D/ood ] || $B data render $D/ood --tracks 60 --seconds 10 --source music21 --synth fluidsynth \
                   --ensemble piano --seed 602 --soundfont $SF
[ "${RENDER_ONLY:-0}" = 1 ] && exit 0
$B experiment low-data transcription --data $D/piano --out $O/run --fractions 0.1 --seeds 5 \
   --variants ${VARIANTS:-baseline,boosted,control,capacity} --workers 2 --max-minutes $MINUTES \
   --features readout.layer6,mid.layer2,top.layer2
$B evaluate transcription --run $O/run --data $D/ood --split all --out $O/run/ood-fluidr3
mkdir -p $R/ood-fluidr3
cp $O/run/results.csv $O/run/summary.md $O/run/boost.png $R/
cp $O/run/ood-fluidr3/results.csv $O/run/ood-fluidr3/summary.md $R/ood-fluidr3/
