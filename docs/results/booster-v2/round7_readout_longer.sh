#!/usr/bin/env bash
# Round 7: the round-6 readout (e147b419, bundled) trained on for longer. Its training loss was still falling
# when the cosine schedule ended at step 2587 (readout.metrics.csv: 0.056 at step 1000, 0.036 at 2587), so
# this run continues that readout from the bundled weights (codec and priors frozen, as before) on the same
# token corpus and teacher, with a fresh warm-up and cosine schedule at half the peak rate; then probes it
# like every other row and pairs it with the bundled checkpoint.
#   MINUTES=35 bash docs/results/booster-v2/round7_readout_longer.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-build/s19/arms}
MINUTES=${MINUTES:-35}
NAME=${NAME:-readout-longer}
DOCS=docs/results/booster-v2/round7
mkdir -p "$DOCS" "$OUT"
.venv/bin/python -m booster.cli pretrain build/v2/tokens --out $OUT/$NAME --init booster/weights/default \
  --stage1-minutes 0 --minutes $MINUTES --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
  --lr-warmup-steps 50 --threads 2 --teachers basic-pitch-notes --readout-only > $DOCS/$NAME.log 2>&1
cp $OUT/$NAME/training.json $DOCS/$NAME.training.json
cp "$(find $OUT/$NAME/logs -name metrics.csv | head -1)" $DOCS/$NAME.metrics.csv
.venv/bin/python -m booster.cli probe --model $OUT/$NAME --out $DOCS/$NAME.probe.json \
  --markdown $DOCS/$NAME.probe.md > $DOCS/$NAME.probe.log 2>&1
.venv/bin/python docs/results/booster-v2/paired_arms.py $DOCS/$NAME.probe.json \
  docs/results/booster-v2/round6/readout.probe.json > $DOCS/paired-$NAME-vs-shipped.txt
