#!/usr/bin/env bash
# Booster v2 token corpus: a random subset of the v2 data (scripts/booster_v2_data.sh) as the bundled
# codec's top + mid tokens with hard Basic Pitch targets (basic-pitch-notes), small enough (about
# 3 MB per hour) to travel to a GPU machine for stage 2 (scripts/gpu_stage2.sh).
# Teachers run here, once per file, cached in OUT/teacher-cache; renderer labels are never read.
#   OUT=build/v2 MUSIC_HOURS=4 RENDER_HOURS=1.5 bash scripts/booster_v2_tokens.sh [part]
# TEACHERS (comma-separated, default basic-pitch-notes) and TOKENS (the corpus folder, default OUT/tokens) choose
# another corpus of the same files, e.g. round 8's: TEACHERS=basic-pitch-notes,key,tempo TOKENS=build/v2/tokens-kt
# TOKENS_FROM: a finished corpus of the same files whose tokens are copied instead of encoded again (a corpus of
# the same audio with other teachers: only the new teachers run).
# With a part (music | renders), only that part's files are encoded (parts may run side by side);
# without, every part is encoded (what is done is reused) and the corpus OUT/tokens is assembled.
set -euo pipefail
OUT=${OUT:-build/v2}
MUSIC_HOURS=${MUSIC_HOURS:-4}
RENDER_HOURS=${RENDER_HOURS:-1.5}  # per render group (six groups)
THREADS=${THREADS:-1}
TEACHERS=${TEACHERS:-basic-pitch-notes}
TOKENS=${TOKENS:-$OUT/tokens}
TOKENS_FROM=${TOKENS_FROM:-}
music=("$OUT/music/audio@$MUSIC_HOURS")
# RENDER_GROUPS chooses some groups (e.g. to encode halves side by side); the corpus itself needs all six
RENDER_GROUPS=${RENDER_GROUPS:-procedural-fluidr3-fx procedural-timgm-fx music21-fluidr3-fx music21-timgm procedural-basic-fx music21-basic}
renders=()
for group in $RENDER_GROUPS; do
  renders+=("$OUT/renders/$group:*/mix.flac@$RENDER_HOURS")
done
tokenize() {
  booster data tokenize "$TOKENS" "$@" --teachers "$TEACHERS" --teacher-cache "$OUT/teacher-cache" \
    --threads "$THREADS" --seed 0 ${TOKENS_FROM:+--tokens-from "$TOKENS_FROM"}
}
case "${1:-all}" in
  music) tokenize "${music[@]}" ;;
  renders) tokenize "${renders[@]}" ;;
  all) tokenize "${music[@]}" "${renders[@]}" ;;
  *) echo "unknown part $1 (music | renders)" >&2; exit 2 ;;
esac
