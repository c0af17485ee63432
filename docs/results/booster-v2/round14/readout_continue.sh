#!/usr/bin/env bash
# Round 14, third arm: the shipped 616ecf70 (readout-bp-mnne-w25) trained 30 minutes more with the same teachers
# and weights, on round 10's larger 10.0 h subset (786 files; the 6.58 h subset is part of it), since the
# embedding's loss was still falling when the second arm's cosine schedule ended. Then the probe, paired with
# 616ecf70's, and the validation figures.
#   bash docs/results/booster-v2/round14/readout_continue.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
OUT=${OUT:-build/s33/arms}
MINUTES=${MINUTES:-30}
NAME=${NAME:-readout-bp-mnne-w25-more}
TEACHERS=basic-pitch-notes,musicnn-embedding
DOCS=docs/results/booster-v2/round14
mkdir -p "$DOCS" "$OUT"
# round 10's files (its corpus's tokens copied), with this round's teachers
PATH=$PWD/.venv/bin:$PATH TEACHERS=$TEACHERS TOKENS=build/v2/tokens-bpme10 MUSIC_HOURS=4 RENDER_HOURS=1.0 THREADS=2 \
  TOKENS_FROM=build/v2/tokens-ktc OUT=build/v2 bash scripts/booster_v2_tokens.sh > $DOCS/tokens-bpme10.log 2>&1
[ "${TOKENS_ONLY:-0}" = 1 ] && exit 0
.venv/bin/python -m booster.cli pretrain build/v2/tokens-bpme10 --out $OUT/$NAME --init booster/weights/default \
  --stage1-minutes 0 --minutes $MINUTES --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
  --lr-warmup-steps 50 --threads 2 --teachers $TEACHERS --readout-only --readout-weights 1,0.25 \
  > $DOCS/$NAME.log 2>&1
bash docs/results/booster-v2/report_arm.sh $OUT/$NAME $DOCS $DOCS/readout-bp-mnne-w25.probe.json 616ecf70
