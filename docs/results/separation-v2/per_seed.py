"""Per-seed cSDR of every variant, and the paired differences the README quotes, from a results.csv.

    .venv/bin/python docs/results/separation-v2/per_seed.py docs/results/separation-v2/results.csv
"""
import sys
from pathlib import Path

import numpy as np

from booster.stats import paired_ci95
from downstream.experiment import read_results

rows = read_results(Path(sys.argv[1]))
metric = sys.argv[2] if len(sys.argv) > 2 else "sdr"
variants = ["baseline", "boosted", "control", "capacity"]
table = {(int(r["seed"]), r["variant"]): float(r[metric]) for r in rows}
seeds = sorted({s for s, _ in table})
print(f"| seed | {' | '.join(variants)} |\n|---|{'---|' * len(variants)}")
for s in seeds:
    print(f"| {s} | " + " | ".join(f"{table[s, v]:.2f}" if (s, v) in table else "" for v in variants) + " |")
print()
for a, b in (("boosted", "baseline"), ("control", "baseline"), ("capacity", "baseline"), ("boosted", "control"),
             ("boosted", "capacity")):
    common = [s for s in seeds if (s, a) in table and (s, b) in table]
    d = np.array([table[s, a] - table[s, b] for s in common])
    m, h = paired_ci95(d)
    print(f"- {a} - {b}: {m:+.2f} [{m - h:+.2f}, {m + h:+.2f}] dB over seeds {common}, {a} better on "
          f"{int((d > 0).sum())}/{len(d)}")
