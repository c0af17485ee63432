#!/usr/bin/env bash
# Round 14: musicnn's 200 penultimate features (musicnn-embedding, MSE) as the readout's second teacher, beside
# Basic Pitch's notes (BCE): the representation that, read by a linear probe, gave instrument F1 0.604 against the
# semitone spectrogram's 0.501 (round 13). The readout's head becomes 176 probabilities then 200 raw outputs
# (ReadoutConfig.head_segments). Otherwise round 13's recipe: from the bundled 1cfd160c, codec and priors frozen,
# the head widened from 176 outputs (the trained rows kept), the same 6.58 h subset, the same minutes.
# Then the probe, paired with 1cfd160c's, and the validation figures that the shipping rule reads.
#   MINUTES=30 bash docs/results/booster-v2/round14/readout_mnne.sh
# The second arm weighs the embedding's loss down (pretrain --readout-weights, in --teachers order):
#   NAME=readout-bp-mnne-w25 WEIGHTS=1,0.25 bash docs/results/booster-v2/round14/readout_mnne.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
OUT=${OUT:-build/s33/arms}
MINUTES=${MINUTES:-30}
NAME=${NAME:-readout-bp-mnne}
WEIGHTS=${WEIGHTS:-}
TEACHERS=basic-pitch-notes,musicnn-embedding
DOCS=docs/results/booster-v2/round14
mkdir -p "$DOCS" "$OUT"
# round 13's files (its corpus's tokens copied, not encoded again), with this round's teachers
PATH=$PWD/.venv/bin:$PATH TEACHERS=$TEACHERS TOKENS=build/v2/tokens-bpme MUSIC_HOURS=2 RENDER_HOURS=0.75 THREADS=2 \
  TOKENS_FROM=build/v2/tokens-mnn OUT=build/v2 bash scripts/booster_v2_tokens.sh > $DOCS/tokens-bpme.log 2>&1
.venv/bin/python -m booster.cli pretrain build/v2/tokens-bpme --out $OUT/$NAME --init booster/weights/default \
  --stage1-minutes 0 --minutes $MINUTES --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
  --lr-warmup-steps 50 --threads 2 --teachers $TEACHERS --readout-only ${WEIGHTS:+--readout-weights $WEIGHTS} \
  > $DOCS/$NAME.log 2>&1
bash docs/results/booster-v2/report_arm.sh $OUT/$NAME $DOCS docs/results/booster-v2/round9/merged.probe.json shipped
