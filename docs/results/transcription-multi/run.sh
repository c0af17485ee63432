#!/usr/bin/env bash
# Multi-instrument transcription (issue 15, item 4) with the bundled checkpoint (the figures of README.md were
# measured with e147b419, bundled at commit 309e9f3: af68d96b + the readout distilled from Basic Pitch): every
# pitched stem of procedural mixes (bass, chords, lead, pads...
# over drums), rendered by FluidSynth with TimGM6mb; fraction 0.1 (24 labelled tracks), 5 seeds, the boosted
# model reading the readout's last layer next to the task's default prior layers (as transcription-v3).
# Out of domain, scored by the trained cells without retraining:
#   ood-fluidr3:  the same kind of procedural mixes played by another SoundFont (FluidR3_GM)
#   ood-music21:  real scores (music21 corpus, random ensembles), the training SoundFont
# Seeds 701-703 are used nowhere else (pretraining renders: 201-206; probe set: 7000-7003).
set -euo pipefail
B=.venv/bin/booster
D=build/transcription-multi
R=docs/results/transcription-multi
MINUTES=${MINUTES:-5}
bash docs/results/transcription-multi/render.sh $D
$B experiment low-data transcription --data $D/mixes --out $D/run --fractions 0.1 --seeds 5 \
   --variants baseline,boosted,control,capacity --workers 2 --max-minutes $MINUTES \
   --features readout.layer6,mid.layer2,top.layer2
for ood in ood-fluidr3 ood-music21; do
  $B evaluate transcription --run $D/run --data $D/$ood --split all --out $D/run/$ood
done
cp $D/run/results.csv $D/run/summary.md $D/run/boost.png $R/
for ood in ood-fluidr3 ood-music21; do
  mkdir -p $R/$ood
  cp $D/run/$ood/results.csv $D/run/$ood/summary.md $R/$ood/
done
