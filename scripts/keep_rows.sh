#!/usr/bin/env bash
# Print the header and the rows of the cells that read no booster (`baseline`, `capacity`) at FRACTION of an
# earlier run's results.csv: what a rerun with a new checkpoint keeps instead of training them again.
# Usage: scripts/keep_rows.sh RESULTS_CSV FRACTION
set -euo pipefail
[ -f "$1" ] || { echo "$1 not found: run the earlier experiment first" >&2; exit 2; }
head -1 "$1"; grep -E "^$2,[0-9]+,(baseline|capacity)," "$1"
