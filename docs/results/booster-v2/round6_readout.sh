#!/usr/bin/env bash
# Round 6: a readout stack (hqvae.readout: 3 bidirectional sparse-attention layers, dim 192, over the top and
# mid code vectors and prior layers 2 and 4) trained alone on the hard Basic Pitch notes of the token corpus,
# codec and priors frozen (those of the shipped af68d96b), then probed like every other row.
#   MINUTES=45 bash docs/results/booster-v2/round6_readout.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-build/s18/arms}
MINUTES=${MINUTES:-45}
NAME=${NAME:-readout}
DOCS=docs/results/booster-v2/round6
mkdir -p "$DOCS"
.venv/bin/python -m booster.cli pretrain build/v2/tokens --out $OUT/$NAME --init booster/weights/default \
  --stage1-minutes 0 --minutes $MINUTES --batch-size 8 --stage2-crop-seconds 6 --lr 1e-3 --lr-schedule cosine \
  --lr-warmup-steps 100 --threads 2 --teachers basic-pitch-notes --readout-only > $DOCS/$NAME.log 2>&1
cp $OUT/$NAME/training.json $DOCS/$NAME.training.json
cp "$(find $OUT/$NAME/logs -name metrics.csv | head -1)" $DOCS/$NAME.metrics.csv
.venv/bin/python -m booster.cli probe --model $OUT/$NAME --out $DOCS/$NAME.probe.json \
  --markdown $DOCS/$NAME.probe.md > $DOCS/$NAME.probe.log 2>&1
.venv/bin/python docs/results/booster-v2/paired_arms.py $DOCS/$NAME.probe.json \
  docs/results/booster-v2/gpu/bpn-w10.probe.json > $DOCS/paired-$NAME-vs-shipped.txt 2>/dev/null || true
