#!/usr/bin/env bash
# ab_extract.py three times per tree, interleaved; then the largest difference between the two trees' outputs.
set -euo pipefail
OLD=${OLD:-/tmp/oldtree}
P=docs/results/caching/s35/ab_extract.py
for i in 1 2 3; do
  PYTHONPATH=$OLD .venv/bin/python $P /tmp/ab_old.npz
  .venv/bin/python $P /tmp/ab_new.npz
done
.venv/bin/python - <<'PY'
import numpy as np
a, b = np.load("/tmp/ab_old.npz"), np.load("/tmp/ab_new.npz")
for k in a.files:
    same = (a[k] == b[k]).mean()
    print(k, a[k].shape, "equal fraction", same, "max abs diff", float(np.abs(a[k].astype(float) - b[k]).max()))
PY
