#!/usr/bin/env bash
# The data of the piano transcription experiments (transcription-v2, -v3, -v4), rendered where missing: 300 music21
# chorales on FluidSynth piano (TimGM6mb, seed 601) and, out of domain, 60 more on FluidR3_GM (seed 602).
# Usage (repository root): bash docs/results/transcription-v2/render.sh [DIR]   (default build/transcription-v2)
set -euo pipefail
B=.venv/bin/booster
D=${1:-build/transcription-v2}
SF=${SF:-build/v2/sf/fluid-soundfont-gm/usr/share/sounds/sf2/FluidR3_GM.sf2}   # booster data fetch-soundfont
[ -f "$SF" ] || $B data fetch-soundfont build/v2/sf
mkdir -p $D
[ -d $D/piano ] || $B data render $D/piano --tracks 300 --seconds 10 --source music21 --synth fluidsynth \
                     --ensemble piano --seed 601
[ -d $D/ood ] || $B data render $D/ood --tracks 60 --seconds 10 --source music21 --synth fluidsynth \
                   --ensemble piano --seed 602 --soundfont $SF
