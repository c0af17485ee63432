"""The shipping rule's figures from probe runs: mean validation F1 of the three frame probes (booster:all)
and each probe's validation F1; the tag figure comes from ``round8/tag_breakdown.py CHECKPOINT val``.

    python docs/results/booster-v2/round9/val_figures.py A.probe.json [B.probe.json ...]
"""

from __future__ import annotations

import json
import sys

TASKS = ("pitch", "onset", "instrument")


def main(*paths: str) -> None:
    for path in paths:
        frame = json.load(open(path))["frame"]["booster:all"]
        val = [frame[t]["val_f1"] for t in TASKS]
        parts = ", ".join(f"{t} {v:.3f}" for t, v in zip(TASKS, val, strict=True))
        print(f"{path}: mean validation F1 {sum(val) / 3:.3f} ({parts})")


if __name__ == "__main__":
    main(*sys.argv[1:])
