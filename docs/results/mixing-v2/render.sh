#!/usr/bin/env bash
# The data of the mixing experiments (mixing-v2, -v3, -v4), rendered where missing: 150 procedural scores on
# FluidSynth (TimGM6mb, seed 701) and, out of domain, 40 music21 scores on FluidR3_GM (seed 702).
# Usage (repository root): bash docs/results/mixing-v2/render.sh [DIR]   (default build/mixing-v2)
set -euo pipefail
B=.venv/bin/booster
D=${1:-build/mixing-v2}
SF=${SF:-build/v2/sf/fluid-soundfont-gm/usr/share/sounds/sf2/FluidR3_GM.sf2}   # booster data fetch-soundfont
[ -f "$SF" ] || $B data fetch-soundfont build/v2/sf
mkdir -p $D
[ -d $D/proc ] || $B data render $D/proc --tracks 150 --seconds 10 --source procedural --synth fluidsynth --seed 701
[ -d $D/ood ] || $B data render $D/ood --tracks 40 --seconds 10 --source music21 --synth fluidsynth --seed 702 \
                   --soundfont $SF
