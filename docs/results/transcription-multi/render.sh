#!/usr/bin/env bash
# The data of the multi-instrument transcription experiments (transcription-multi, transcription-multi-v2), rendered
# where missing: 300 procedural mixes (TimGM6mb) and two out-of-domain sets of 60. Renders are deterministic.
# Seeds 701-703 are used nowhere else (pretraining renders: 201-206; probe set: 7000-7003).
# Usage (repository root): bash docs/results/transcription-multi/render.sh [DIR]   (default build/transcription-multi)
set -euo pipefail
B=.venv/bin/booster
D=${1:-build/transcription-multi}
SF=${SF:-build/v2/sf/fluid-soundfont-gm/usr/share/sounds/sf2/FluidR3_GM.sf2}   # booster data fetch-soundfont
mkdir -p $D
[ -d $D/mixes ] || $B data render $D/mixes --tracks 300 --seconds 10 --source procedural --synth fluidsynth --seed 701
[ -d $D/ood-fluidr3 ] || $B data render $D/ood-fluidr3 --tracks 60 --seconds 10 --source procedural \
                           --synth fluidsynth --seed 702 --soundfont $SF
[ -d $D/ood-music21 ] || $B data render $D/ood-music21 --tracks 60 --seconds 10 --source music21 \
                           --synth fluidsynth --seed 703
