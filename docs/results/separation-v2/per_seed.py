"""Per-seed cSDR of every variant, and the paired differences the README quotes, from a results.csv.

    .venv/bin/python docs/results/separation-v2/per_seed.py docs/results/separation-v2/results.csv [METRIC]

METRIC: a column of results.csv (default ``sdr``; e.g. ``sdr_lead``, ``best_val_loss``). Ablation variants
(``boosted-zero`` ...) get a column and are compared with the baseline and with the variant they ablate.
"""
import sys
from pathlib import Path

import numpy as np

from booster.stats import paired_ci95
from downstream.experiment import read_results

rows = read_results(Path(sys.argv[1]))
metric = sys.argv[2] if len(sys.argv) > 2 else "sdr"
variants = ["baseline", "boosted", "control", "capacity"]
variants += sorted({r["variant"] for r in rows} - set(variants))
table = {(int(r["seed"]), r["variant"]): float(r[metric]) for r in rows}
seeds = sorted({s for s, _ in table})
digits = 4 if "loss" in metric else 2
print(f"| seed | {' | '.join(variants)} |\n|---|{'---|' * len(variants)}")
for s in seeds:
    print(f"| {s} | " + " | ".join(f"{table[s, v]:.{digits}f}" if (s, v) in table else "" for v in variants) + " |")
print()
pairs = [("boosted", "baseline"), ("control", "baseline"), ("capacity", "baseline"), ("boosted", "control"),
         ("boosted", "capacity")]
pairs += [(v, w) for v in variants[4:] for w in ("baseline", v.split("-")[0])]
unit = "" if "loss" in metric else " dB"
lower = "loss" in metric  # lower is better
for a, b in pairs:
    common = [s for s in seeds if (s, a) in table and (s, b) in table]
    d = np.array([table[s, a] - table[s, b] for s in common])
    if len(d) < 2:
        continue
    m, h = paired_ci95(d)
    print(f"- {a} - {b}: {m:+.{digits}f} [{m - h:+.{digits}f}, {m + h:+.{digits}f}]{unit} over seeds {common}, {a} better on "
          f"{int((d < 0 if lower else d > 0).sum())}/{len(d)}")
