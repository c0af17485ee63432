#!/usr/bin/env bash
# Ablation of stage-2 objectives at equal minutes, chosen by `booster probe`.
# Every arm starts from the bundled checkpoint (booster/weights/default: codec and priors), keeps its
# codec, and trains the top and mid priors (the levels whose features the probes and the downstream
# tasks read) for the same wall-clock minutes on one thread, two arms side by side.
#   ARMS="ntp basic-pitch" MINUTES=15 bash docs/results/booster-v2/ablation.sh
set -euo pipefail
MINUTES=${MINUTES:-15}
ARMS=${ARMS:-"ntp basic-pitch contrastive bp-contrastive"}
OUT=${OUT:-build/ablation}
mkdir -p "$OUT"
COMMON=(build/pretrain/corpus --glob "*/*/mix.flac" --init booster/weights/default --stage1-minutes 0
        --prior-levels top,mid --lr 1e-3 --lr-schedule cosine --lr-warmup-steps 50 --threads 1
        --teacher-cache build/teachers-v1 --minutes "$MINUTES")
# arm name -> its stage-2 objective flags
flags_of() {
  case "$1" in
    ntp) echo "" ;;
    basic-pitch|cqt|chroma) echo "--teachers $1" ;;
    teachers) echo "--teachers basic-pitch,cqt,chroma" ;;
    contrastive) echo "--contrastive-weight 1" ;;
    bp-contrastive) echo "--teachers basic-pitch --contrastive-weight 1" ;;
    bp-w10) echo "--teachers basic-pitch --teacher-weight 10" ;;
    bpn-w10) echo "--teachers basic-pitch-notes --teacher-weight 10" ;;
    bpn-w30) echo "--teachers basic-pitch-notes --teacher-weight 30" ;;
    bpn-contrastive) echo "--teachers basic-pitch-notes --teacher-weight 10 --contrastive-weight 1" ;;
    teachers-w10) echo "--teachers basic-pitch,cqt,chroma --teacher-weight 10" ;;
    *) echo "unknown arm $1" >&2; exit 2 ;;
  esac
}
run_arm() {
  local arm=$1
  # shellcheck disable=SC2046
  booster pretrain "${COMMON[@]}" --out "$OUT/$arm" $(flags_of "$arm") > "$OUT/$arm.log" 2>&1
}
set -- $ARMS
while [ $# -gt 0 ]; do
  run_arm "$1" & a=$!
  if [ $# -gt 1 ]; then run_arm "$2" & b=$!; wait $b; shift; fi
  wait $a; shift
done
for arm in $ARMS; do
  booster probe --model "$OUT/$arm" --out "$OUT/$arm.probe.json" --markdown "$OUT/$arm.probe.md" > "$OUT/$arm.probe.log" 2>&1
done
