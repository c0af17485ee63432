#!/usr/bin/env bash
# Round 5, second question: the top and mid priors made bidirectional masked-token models (from the shipped
# weights), with the same Basic Pitch teacher and weight, the same recipe and budget as the weight-10 CPU row
# (gpu/cpu-continue: 28 min, 2 threads, batch 8 x 6 s, Adam 5e-4 cosine), then probed like every other row.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-build/s17/arms}
DOCS=docs/results/booster-v2/round5
mkdir -p "$DOCS"
.venv/bin/python -m booster.cli pretrain build/v2/tokens --out $OUT/bi-w10 --init booster/weights/default \
  --stage1-minutes 0 --minutes 28 --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
  --lr-warmup-steps 50 --threads 2 --teachers basic-pitch-notes --teacher-weight 10 \
  --bidirectional-levels top,mid > $DOCS/bi-w10.log 2>&1
cp $OUT/bi-w10/training.json $DOCS/bi-w10.training.json
cp "$(find $OUT/bi-w10/logs -name metrics.csv | head -1)" $DOCS/bi-w10.metrics.csv
.venv/bin/python -m booster.cli probe --model $OUT/bi-w10 --out $DOCS/bi-w10.probe.json \
  --markdown $DOCS/bi-w10.probe.md > $DOCS/bi-w10.probe.log 2>&1
.venv/bin/python docs/results/booster-v2/paired_arms.py $DOCS/bi-w10.probe.json \
  docs/results/booster-v2/gpu/cpu-continue.probe.json > $DOCS/paired-bi-vs-cpu-continue.txt 2>/dev/null
