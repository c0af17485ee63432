#!/usr/bin/env bash
# Booster v2 stage 2 at GPU scale: several arms trained side by side on one GPU from a token corpus
# (booster data tokenize), each starting from the bundled checkpoint and keeping its codec.
# Run from the repository root on the GPU machine (the device tool), with the corpus in gpu_data/tokens
# and the wheels of the packages that machine lacks in .whl (see docs/results/booster-v2/README.md):
#   MINUTES=7 OUT=/some/dir bash scripts/gpu_stage2.sh
# Each arm leaves OUT/ARM.safetensors (its weights) and its config, training summary, CSV logs and the
# command's output (pretrain.log) in OUT/small.tar (the device tool brings back at most 8 files of 16 MiB).
# DEVICE=cpu runs the same recipe here (a smoke test; the arms then share two cores).
set -euo pipefail
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}
CORPUS=${CORPUS:-gpu_data/tokens}
BATCH=${BATCH:-32}
CROP=${CROP:-6}
WORKERS=${WORKERS:-3}
ARMS=${ARMS:-"ntp bpn-w10 bpn-w30 bpn-w30-con"}
OUT=${OUT:?set OUT}
RUNS=${RUNS:-/tmp/gpu-runs}
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}  # the folder of carried wheels (training needs fewer than caching: no zarr)
if [ "${INSTALL_WHEELS:-1}" = 1 ] && ls "$WHEELS"/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PYTHON" -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
flags_of() {
  case "$1" in
    ntp) echo "" ;;
    bpn-w10) echo "--teachers basic-pitch-notes --teacher-weight 10" ;;
    bpn-w30) echo "--teachers basic-pitch-notes --teacher-weight 30" ;;
    bpn-w10-con) echo "--teachers basic-pitch-notes --teacher-weight 10 --contrastive-weight 1" ;;
    bpn-w30-con) echo "--teachers basic-pitch-notes --teacher-weight 30 --contrastive-weight 1" ;;
    # round 9: from the bundled checkpoint (priors already trained), at half the peak rate
    prior-bp) echo "--teachers basic-pitch-notes --teacher-weight 10 --lr 5e-4" ;;
    prior-bpkt) echo "--teachers basic-pitch-notes,key,tempo --teacher-weight 10 --lr 5e-4" ;;
    readout-bp) echo "--teachers basic-pitch-notes --readout-only --lr 5e-4 --lr-warmup-steps 50" ;;
    # round 10: round 9's arms again from its merge (1cfd160c), at a lower peak rate, and one with a chroma head
    cont-prior-bpkt) echo "--teachers basic-pitch-notes,key,tempo --teacher-weight 10 --lr 3e-4 --lr-warmup-steps 100" ;;
    cont-prior-bpktc) echo "--teachers basic-pitch-notes,key,tempo,chroma --teacher-weight 10 --lr 3e-4 --lr-warmup-steps 100" ;;
    cont-readout-bp) echo "--teachers basic-pitch-notes --readout-only --lr 3e-4 --lr-warmup-steps 50" ;;
    # round 11: the top and mid priors made bidirectional masked-token models (HuBERT/MERT's objective over our
    # tokens) with round 9's teacher heads reading the masked pass: from 1cfd160c's priors, from fresh priors
    # (trained with the teachers from the start), and with the teachers at a third of the weight
    bi-bpkt) echo "--teachers basic-pitch-notes,key,tempo --teacher-weight 10 --bidirectional-levels top,mid --lr 5e-4 --lr-warmup-steps 100" ;;
    bi-bpkt-fresh) echo "--teachers basic-pitch-notes,key,tempo --teacher-weight 10 --bidirectional-levels top,mid --fresh-priors --lr 1e-3 --lr-warmup-steps 200" ;;
    bi-bpkt-w3) echo "--teachers basic-pitch-notes,key,tempo --teacher-weight 3 --bidirectional-levels top,mid --lr 5e-4 --lr-warmup-steps 100" ;;
    *) echo "unknown arm $1" >&2; exit 2 ;;
  esac
}
mkdir -p "$OUT" "$RUNS"
if command -v nvidia-smi > /dev/null; then  # utilisation every 15 s, to say whether the GPU was the limit
  # (its output goes to the file alone, and it is stopped at the end: a writer left on the command's
  # stdout would keep a `| tail` after this script waiting until the device tool's limit)
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 15 > "$RUNS/gpu-util.csv" 2>&1 &
  monitor=$!
fi
pids=()
for arm in $ARMS; do
  # shellcheck disable=SC2046
  "$PYTHON" -m booster.cli pretrain "$CORPUS" --out "$RUNS/$arm" --init booster/weights/default --stage1-minutes 0 \
    --minutes "$MINUTES" --device "$DEVICE" --batch-size "$BATCH" --stage2-crop-seconds "$CROP" \
    --lr 1e-3 --lr-schedule cosine --lr-warmup-steps 200 --loader-workers "$WORKERS" --checkpoint-every 1000 \
    $(flags_of "$arm") > "$RUNS/$arm.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
small=()
for arm in $ARMS; do
  echo "== $arm"; tail -c 1500 "$RUNS/$arm.log"
  [ -f "$RUNS/$arm/model.safetensors" ] || { echo "$arm: no checkpoint"; continue; }
  cp "$RUNS/$arm.log" "$RUNS/$arm/pretrain.log"
  cp "$RUNS/$arm/model.safetensors" "$OUT/$arm.safetensors"
  small+=("$arm/config.json" "$arm/training.json" "$arm/logs" "$arm/pretrain.log")
done
[ -n "${monitor:-}" ] && kill "$monitor" 2> /dev/null
[ -f "$RUNS/gpu-util.csv" ] && small+=(gpu-util.csv)
[ ${#small[@]} -gt 0 ] && tar -C "$RUNS" -cf "$OUT/small.tar" "${small[@]}"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
exit $status
