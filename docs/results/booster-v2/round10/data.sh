#!/usr/bin/env bash
# Round 10's token corpus, rebuilt on a fresh checkout: round 8's recipe (scripts/booster_v2_data.sh +
# scripts/booster_v2_tokens.sh) with deep chroma added as a teacher, and only 180 x 30 s rendered per render
# group (the first tracks of each group's seed; renders are deterministic). Session 30 ran the renders as two
# halves side by side and stopped and restarted its first token processes (the parts they had written were
# reused); the files are the same.
#   OUT=build/v2 bash docs/results/booster-v2/round10/data.sh
set -euo pipefail
OUT=${OUT:-build/v2}
# round 8's teachers plus deep chroma (harmony), for a chroma-head arm; the other arms ignore its targets
TEACHERS=${TEACHERS:-basic-pitch-notes,key,tempo,chroma}
OUT=$OUT TRACKS_PER_GROUP=180 bash scripts/booster_v2_data.sh
# Tokens: the recorded music's 4 h, but 1 h of each render group (not round 8's 1.5: only about 10 h of
# corpus can travel to the GPU machine beside the repository), in three processes side by side
export OUT TEACHERS TOKENS=$OUT/tokens-ktc RENDER_HOURS=1.0
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
# What travels (gpu_data/tokens): the whole corpus, 37.4 MB (with the repository and the training wheels 60.7 MiB
# of the device tool's 64)
mkdir -p gpu_data/tokens
cp "$OUT/tokens-ktc/tokens.npz" "$OUT/tokens-ktc/manifest.json" gpu_data/tokens/
