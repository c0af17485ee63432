"""Paired differences between two probe runs (same probe set, splits and subsets): per test track
for the frame probes, per labelled subset for the tags; mean and 95% interval.

    python docs/results/booster-v2/paired_arms.py A.probe.json B.probe.json [REPRESENTATION=booster:all]
"""

from __future__ import annotations

import json
import sys

import numpy as np

from booster.stats import paired_ci95


def main(a: str, b: str, rep: str = "booster:all") -> None:
    ra, rb = json.load(open(a)), json.load(open(b))
    for size in ra["tags"][rep]:
        m, h = paired_ci95(np.array(ra["tags"][rep][size]) - np.array(rb["tags"][rep][size]))
        print(f"{rep} tags@{size}: {m:+.3f} +- {h:.3f}")
    for task in ("pitch", "onset", "instrument"):
        d = np.array(ra["frame"][rep][task]["per_track"]) - np.array(rb["frame"][rep][task]["per_track"])
        m, h = paired_ci95(d)
        print(f"{rep} {task} per-track F1: {m:+.3f} +- {h:.3f} (better on {(d > 0).sum()} of {len(d)} tracks)")


if __name__ == "__main__":
    main(*sys.argv[1:])
