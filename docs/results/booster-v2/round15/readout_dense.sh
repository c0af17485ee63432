#!/usr/bin/env bash
# Round 15: musicnn's embedding as a denser teacher. Round 14 distilled musicnn's 200 penultimate features at one
# 3 s patch every 3 s, and the readout learnt them about as well as each file's mean would carry. Here the teacher
# is the same network on a 3 s patch every second (`musicnn-embedding-1s`), so the target moves within a file.
# The arm is round 14's third (readout-bp-mnne-w25-more) with only the teacher's hop changed: from the bundled
# 616ecf70, codec and priors frozen, the same 10.0 h subset (786 files), teachers and weights (1, 0.25), the same
# 30 minutes. That third arm is the control: the same init, data and minutes with the 3 s teacher.
# Then the probe, paired with 616ecf70's, and the validation figures the shipping rule reads.
#   bash docs/results/booster-v2/round15/readout_dense.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
OUT=${OUT:-build/s34/arms}
MINUTES=${MINUTES:-30}
NAME=${NAME:-readout-bp-mnne1s}
TEACHERS=basic-pitch-notes,musicnn-embedding-1s
DOCS=docs/results/booster-v2/round15
R14=docs/results/booster-v2/round14
mkdir -p "$DOCS" "$OUT"
# round 14's 10 h files (their tokens copied from its corpus), with the dense teacher
PATH=$PWD/.venv/bin:$PATH TEACHERS=$TEACHERS TOKENS=build/v2/tokens-bpme1s10 MUSIC_HOURS=4 RENDER_HOURS=1.0 THREADS=2 \
  TOKENS_FROM=build/v2/tokens-bpme10 OUT=build/v2 bash scripts/booster_v2_tokens.sh > $DOCS/tokens-bpme1s10.log 2>&1
[ "${TOKENS_ONLY:-0}" = 1 ] && exit 0
.venv/bin/python -m booster.cli pretrain build/v2/tokens-bpme1s10 --out $OUT/$NAME --init booster/weights/default \
  --stage1-minutes 0 --minutes $MINUTES --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
  --lr-warmup-steps 50 --threads 2 --teachers $TEACHERS --readout-only --readout-weights 1,0.25 \
  > $DOCS/$NAME.log 2>&1
bash docs/results/booster-v2/report_arm.sh $OUT/$NAME $DOCS $R14/readout-bp-mnne-w25.probe.json 616ecf70
.venv/bin/python docs/results/booster-v2/paired_arms.py $DOCS/$NAME.probe.json \
  $R14/readout-bp-mnne-w25-more.probe.json > $DOCS/paired-$NAME-vs-w25-more.txt
