#!/usr/bin/env bash
# Session-17 ablation: teacher weight 300 with and without a 16-frame delayed readout, 30 min each,
# 1 thread each, 2 side by side (the w10 control at this budget: docs/results/booster-v2/gpu/cpu-continue.*)
set -u
cd "$(dirname "$0")/../../.."
arm() { name=$1; shift
  .venv/bin/python -m booster.cli pretrain build/v2/tokens --out build/s17/arms/$name --init booster/weights/default \
    --stage1-minutes 0 --minutes 30 --batch-size 8 --stage2-crop-seconds 6 --lr 5e-4 --lr-schedule cosine \
    --lr-warmup-steps 50 --threads 1 --teachers basic-pitch-notes "$@" > build/s17/arms/$name.log 2>&1 &
}
arm c-w300 --teacher-weight 300
arm c-w300-d16 --teacher-weight 300 --teacher-delay 16
wait
mkdir -p docs/results/booster-v2/round5
# then each arm is probed against the same held-out probe set as every other row:
for arm in c-w300 c-w300-d16; do
  .venv/bin/python -m booster.cli probe --model build/s17/arms/$arm --out docs/results/booster-v2/round5/$arm.probe.json \
    --markdown docs/results/booster-v2/round5/$arm.probe.md > docs/results/booster-v2/round5/$arm.probe.log 2>&1
done
