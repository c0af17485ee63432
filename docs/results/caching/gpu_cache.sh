#!/usr/bin/env bash
# booster cache with --device cuda against --device cpu on the same machine (the device tool's GPU machine,
# 16 cores): the same real recordings (44.1/48 kHz stereo Ogg, gpu_data/audio), the bundled model and the
# default settings; then the stores compared feature by feature (gpu_compare.py).
#   OUT=/some/dir bash docs/results/caching/gpu_cache.sh    (with .whl and gpu_data/audio carried)
# The GPU machine lacks zarr and more: .whl holds the wheels it lacks (zarr, numcodecs, donfig, google-crc32c,
# soundfile, cffi, pycparser, soxr, vector-quantize-pytorch, einx, frozendict, loguru, torch-einops-utils; Python
# 3.12). Round 9's run stopped at the first cache for want of zarr; extraction alone was measured there
# (gpu_extract.py, gpu_extract.log). Each cache is cut at RUN_LIMIT seconds, so one slow run cannot use up the lease.
set -uo pipefail
AUDIO=${AUDIO:-gpu_data/audio}
OUT=${OUT:?set OUT}
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name --format=csv,noheader
nproc
TIME=""; [ -x /usr/bin/time ] && TIME="/usr/bin/time -v"  # peak memory, where GNU time is there
run() {  # name, then cache options
  local name=$1; shift
  $TIME timeout "${RUN_LIMIT:-150}" python3 -m booster.cli cache "$AUDIO" --out "/tmp/$name.zarr" "$@" > "/tmp/$name.log" 2>&1
  echo "== $name ($*): exit $?"; grep -E "^cached|Maximum resident" "/tmp/$name.log"
}
run cuda-w1 --device cuda --workers 1
run cpu-w2 --device cpu --workers 2
python3 docs/results/caching/gpu_compare.py /tmp/cpu-w2.zarr /tmp/cuda-w1.zarr
run cuda-w2 --device cuda --workers 2
run cpu-w8 --device cpu --workers 8
for f in /tmp/cuda-w1.log /tmp/cuda-w2.log /tmp/cpu-w2.log /tmp/cpu-w8.log; do [ -f "$f" ] && tail -c 20000 "$f" > "$OUT/$(basename "$f")"; done
