"""Rows of the GPU-arm table: booster:all and semitone+booster per probe run, validation F1 beside test F1.

    python docs/results/booster-v2/gpu_table.py NAME=PROBE.json ...
"""

from __future__ import annotations

import json
import sys

import numpy as np


def row(name: str, path: str) -> str:
    r = json.load(open(path))
    b, sb = r["frame"]["booster:all"], r["frame"]["semitone+booster"]
    tags = r["tags"]["booster:all"]
    cells = [f"{np.mean(tags['24']):.3f}", f"{np.mean(tags['120']):.3f}"]
    for task in ("pitch", "onset", "instrument"):
        val = b[task].get("val_f1")
        cells.append(f"{b[task]['f1']:.3f}" + (f" ({val:.3f})" if val is not None else ""))
    cells.append(" / ".join(f"{sb[t]['f1']:.3f}" for t in ("pitch", "onset", "instrument")))
    return f"| {name} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    print("| arm | tags @24 | tags @120 | pitch F1 (val) | onset F1 (val) | instrument F1 (val) | "
          "semitone+booster pitch / onset / instrument |")
    print("|---|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        name, _, path = arg.partition("=")
        print(row(name, path))
