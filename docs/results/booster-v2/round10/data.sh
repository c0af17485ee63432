#!/usr/bin/env bash
# Round 10's token corpus, rebuilt on a fresh checkout: the same recipe as round 8's tokens-kt
# (scripts/booster_v2_data.sh + scripts/booster_v2_tokens.sh), with deep chroma added, but only the 1.5 h of each render group
# that the corpus reads is rendered (180 x 30 s per group, the first tracks of each group's seed), and
# the two render halves run side by side with the music fetch. What was run in session 30 (its first token
# processes were stopped and restarted as below; the parts they had written were reused).
#   OUT=build/v2 bash docs/results/booster-v2/round10/data.sh
set -euo pipefail
OUT=${OUT:-build/v2}
TRACKS=${TRACKS:-180}
# round 8's teachers plus deep chroma (harmony), for a chroma-head arm; the other arms ignore its targets
TEACHERS=${TEACHERS:-basic-pitch-notes,key,tempo,chroma}
mkdir -p "$OUT/renders"
[ -d "$OUT/music/audio" ] || booster data fetch-music "$OUT/music" > "$OUT/fetch-music.log" 2>&1 &
fetch=$!
FLUIDR3=$(booster data fetch-soundfont "$OUT/sf" | tail -1)
render() {  # name source synth seed [extra flags...]
  local name=$1 source=$2 synth=$3 seed=$4; shift 4
  [ -f "$OUT/renders/$name.done" ] && return 0
  booster data render "$OUT/renders/$name" --tracks "$TRACKS" --seconds 30 \
    --source "$source" --synth "$synth" --seed "$seed" "$@" > "$OUT/renders/$name.log" 2>&1
  touch "$OUT/renders/$name.done"
}
( render procedural-fluidr3-fx procedural fluidsynth 201 --soundfont "$FLUIDR3" --effects
  render procedural-timgm-fx   procedural fluidsynth 202 --effects
  render procedural-basic-fx   procedural basic      205 --effects ) &
a=$!
( render music21-fluidr3-fx music21 fluidsynth 203 --soundfont "$FLUIDR3" --effects
  render music21-timgm      music21 fluidsynth 204
  render music21-basic      music21 basic      206 ) &
b=$!
wait $a $b $fetch
echo "renders: $(find "$OUT/renders" -name mix.flac | wc -l) mixes"
# Tokens: the recorded music's 4 h, but 1 h of each render group (not round 8's 1.5: only about 10 h of
# corpus can travel to the GPU machine beside the repository), in three processes side by side
export TEACHERS TOKENS=$OUT/tokens-ktc RENDER_HOURS=1.0
bash scripts/booster_v2_tokens.sh music > "$OUT/tok-music.log" 2>&1 &
m=$!
RENDER_GROUPS="procedural-fluidr3-fx procedural-timgm-fx music21-fluidr3-fx" \
  bash scripts/booster_v2_tokens.sh renders > "$OUT/tok-renders-a.log" 2>&1 &
a=$!
RENDER_GROUPS="music21-timgm procedural-basic-fx music21-basic" \
  bash scripts/booster_v2_tokens.sh renders > "$OUT/tok-renders-b.log" 2>&1 &
b=$!
wait $m $a $b
bash scripts/booster_v2_tokens.sh > "$OUT/tok-all.log" 2>&1  # assembles the corpus from the parts
du -sh "$OUT/tokens-ktc"
# What travels (gpu_data/tokens): the whole corpus (37.4 MB; with the repository and the training wheels 60.7 MiB
# of the device tool's 64). Were it larger, subset_corpus.py takes a random subset that fits.
mkdir -p gpu_data/tokens
cp "$OUT/tokens-ktc/tokens.npz" "$OUT/tokens-ktc/manifest.json" gpu_data/tokens/
