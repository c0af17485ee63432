#!/usr/bin/env bash
# Round 8: harmony and rhythm teachers for the readout. Per-tag probes of the bundled 6cca35c5
# (round8/tag_breakdown*.md) show that at 24 labelled tracks the mode (major/minor) and tempo tags are at chance
# for every representation, log-mel included: pooled pitch features cannot give a mode linearly across keys, nor
# a beat activation a tempo. So the readout learns two more madmom teachers beside Basic Pitch's notes: the local
# key (24 probabilities) and the local tempo's salience (24 tempi); see booster/teachers.py. Its head is widened
# from 176 to 224 outputs (the trained rows kept), codec and priors frozen as before.
#   MINUTES=35 bash docs/results/booster-v2/round8_readout_key_tempo.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-build/s20/arms}
MINUTES=${MINUTES:-35}
NAME=${NAME:-readout-key-tempo}
TEACHERS=basic-pitch-notes,key,tempo
DOCS=docs/results/booster-v2/round8
mkdir -p "$DOCS" "$OUT"
# the round-7 corpus's files again (same subset, seed 0), with the two new teachers' targets beside Basic Pitch's
# (parts already encoded, e.g. by "booster_v2_tokens.sh music" and "... renders" side by side, are reused)
PATH=$PWD/.venv/bin:$PATH TEACHERS=$TEACHERS TOKENS=build/v2/tokens-kt \
  OUT=build/v2 bash scripts/booster_v2_tokens.sh > $DOCS/tokens-kt.log 2>&1
.venv/bin/python -m booster.cli pretrain build/v2/tokens-kt --out $OUT/$NAME --init booster/weights/default \
  --stage1-minutes 0 --minutes $MINUTES --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
  --lr-warmup-steps 50 --threads 2 --teachers $TEACHERS --readout-only > $DOCS/$NAME.log 2>&1
cp $OUT/$NAME/training.json $DOCS/$NAME.training.json
cp "$(find $OUT/$NAME/logs -name metrics.csv | head -1)" $DOCS/$NAME.metrics.csv
.venv/bin/python -m booster.cli probe --model $OUT/$NAME --out $DOCS/$NAME.probe.json \
  --markdown $DOCS/$NAME.probe.md > $DOCS/$NAME.probe.log 2>&1
.venv/bin/python docs/results/booster-v2/paired_arms.py $DOCS/$NAME.probe.json \
  docs/results/booster-v2/round7/readout-longer.probe.json > $DOCS/paired-$NAME-vs-shipped.txt
for split in val test; do
  .venv/bin/python docs/results/booster-v2/round8/tag_breakdown.py $OUT/$NAME $split > $DOCS/tag_breakdown-$NAME-$split.md
done
