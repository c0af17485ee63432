#!/usr/bin/env bash
# Reuse the cells of an earlier low-data run that do not read the booster, so that a rerun with a new checkpoint
# trains only the variants that do: `baseline` reads no booster, and `capacity` a fixed random projection (seed 0)
# of the model's own input, of the same width. Their results.csv rows and weights are copied into the new run, which
# the runner then skips. Only where the new run has no baseline row for that fraction yet (so a rerun is harmless).
# Usage: scripts/reuse_cells.sh OLD_RUN NEW_RUN FRACTIONS   (FRACTIONS comma-separated, e.g. 0.1 or 0.05,0.1)
set -euo pipefail
OLD=$1 NEW=$2 FRACTIONS=$3
[ -f "$OLD/results.csv" ] || { echo "$OLD/results.csv not found: run the earlier experiment first"; exit 2; }
mkdir -p "$NEW/cells"
[ -f "$NEW/results.csv" ] || head -1 "$OLD/results.csv" > "$NEW/results.csv"
for f in ${FRACTIONS//,/ }; do
  grep -q "^$f,[0-9]*,baseline," "$NEW/results.csv" && continue
  grep -E "^$f,[0-9]+,(baseline|capacity)," "$OLD/results.csv" >> "$NEW/results.csv" \
    || { echo "$OLD has no baseline or capacity cells at fraction $f"; exit 2; }
  cp "$OLD"/cells/baseline-f$f-* "$OLD"/cells/capacity-f$f-* "$NEW/cells/"
done
