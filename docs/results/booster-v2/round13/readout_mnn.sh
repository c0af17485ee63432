#!/usr/bin/env bash
# Round 13: musicnn's MSD tags as a teacher for the readout, beside Basic Pitch's notes (round 8's recipe with
# musicnn in place of key and tempo). From the bundled 1cfd160c, codec and priors frozen; the readout's head is
# widened from 176 to 226 outputs (the trained rows kept). Then the probe, paired with 1cfd160c's, and the
# validation tag breakdown that the shipping rule reads.
#   MINUTES=30 bash docs/results/booster-v2/round13/readout_mnn.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
OUT=${OUT:-build/s32/arms}
MINUTES=${MINUTES:-30}
NAME=${NAME:-readout-bp-mnn}
TEACHERS=basic-pitch-notes,musicnn
DOCS=docs/results/booster-v2/round13
mkdir -p "$DOCS" "$OUT"
# a 6.5 h subset of the v2 data (seeded; a prefix of round 8's 13 h), both teachers' targets cached per file
# (parts already encoded are reused)
PATH=$PWD/.venv/bin:$PATH TEACHERS=$TEACHERS TOKENS=build/v2/tokens-mnn MUSIC_HOURS=2 RENDER_HOURS=0.75 THREADS=2 \
  OUT=build/v2 bash scripts/booster_v2_tokens.sh > $DOCS/tokens-mnn.log 2>&1
.venv/bin/python -m booster.cli pretrain build/v2/tokens-mnn --out $OUT/$NAME --init booster/weights/default \
  --stage1-minutes 0 --minutes $MINUTES --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
  --lr-warmup-steps 50 --threads 2 --teachers $TEACHERS --readout-only > $DOCS/$NAME.log 2>&1
cp $OUT/$NAME/training.json $DOCS/$NAME.training.json
cp "$(find $OUT/$NAME/logs -name metrics.csv | head -1)" $DOCS/$NAME.metrics.csv
.venv/bin/python -m booster.cli probe --model $OUT/$NAME --out $DOCS/$NAME.probe.json \
  --markdown $DOCS/$NAME.probe.md > $DOCS/$NAME.probe.log 2>&1
.venv/bin/python docs/results/booster-v2/paired_arms.py $DOCS/$NAME.probe.json \
  docs/results/booster-v2/round9/merged.probe.json > $DOCS/paired-$NAME-vs-shipped.txt
.venv/bin/python docs/results/booster-v2/round8/tag_breakdown.py $OUT/$NAME val > $DOCS/tag_breakdown-$NAME-val.md
.venv/bin/python docs/results/booster-v2/round9/val_figures.py docs/results/booster-v2/round9/merged.probe.json \
  $DOCS/$NAME.probe.json
