#!/usr/bin/env bash
# Booster v2 pretraining data: >= 20 h of rendered mixes (both score sources, the basic synth and two
# General MIDI SoundFonts, most with a production-effects chain) + the real recordings of Debian's
# game-music packages. No renderer label is used in pretraining: only the mixes (mix.flac) are read.
# Seeds 7000-7003 are the probe set's and are never used here.
#   bash scripts/booster_v2_data.sh [OUT=build/v2]
# TRACKS_PER_GROUP renders that many tracks in every group instead (the first tracks of each group's seed: round
# 10 rendered 180, what its token corpus reads). A group's marker names its track count, so a later full run is
# not skipped.
set -euo pipefail
OUT=${OUT:-build/v2}
SECONDS_PER_TRACK=${SECONDS_PER_TRACK:-30}
mkdir -p "$OUT"
[ -d "$OUT/music/audio" ] || booster data fetch-music "$OUT/music"
FLUIDR3=$(booster data fetch-soundfont "$OUT/sf" | tail -1)
render() {  # name tracks source synth seed [extra flags...]
  local name=$1 tracks=${TRACKS_PER_GROUP:-$2} source=$3 synth=$4 seed=$5; shift 5
  [ -f "$OUT/renders/$name.$tracks.done" ] && return 0
  booster data render "$OUT/renders/$name" --tracks "$tracks" --seconds "$SECONDS_PER_TRACK" \
    --source "$source" --synth "$synth" --seed "$seed" "$@"
  touch "$OUT/renders/$name.$tracks.done"
}
mkdir -p "$OUT/renders"
# 2400 tracks x 30 s = 20 h (without TRACKS_PER_GROUP)
render procedural-fluidr3-fx   720 procedural fluidsynth 201 --soundfont "$FLUIDR3" --effects
render procedural-timgm-fx     480 procedural fluidsynth 202 --effects
render music21-fluidr3-fx      360 music21    fluidsynth 203 --soundfont "$FLUIDR3" --effects
render music21-timgm           240 music21    fluidsynth 204
render procedural-basic-fx     360 procedural basic      205 --effects
render music21-basic           240 music21    basic      206
echo "renders done: $(find "$OUT/renders" -name mix.flac | wc -l) mixes"
