"""Add the equal-loudness reference (``downstream.tasks.mixing.equal_loudness_reference``) to a mixing run
whose inputs were computed before the reference existed, and write its summary again.

The reference reads only what the run's ``inputs.npz`` holds (framed dry stems, target mixes, true gains,
pans and masks) and its splits; its level is fitted on the training split, as a new run does.
Usage: python docs/results/mixing-v4/backfill_reference.py build/mixing-v4/run
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from downstream.experiment import get_task, read_results, summarise
from downstream.tasks.mixing import equal_loudness_reference


def main(run: Path) -> None:
    meta_path = run / "inputs.json"
    meta = json.loads(meta_path.read_text())
    wanted = ("stems", "target", "gain", "pan", "mask")
    arrays: dict[str, dict[str, np.ndarray]] = {k: {} for k in wanted}
    with np.load(run / "inputs.npz") as z:
        for key in z.files:
            prefix, item = key.split("__", 1)
            if prefix in wanted:  # the booster features are not needed
                arrays[prefix][item] = z[key]
    splits = meta["splits"]
    reference = equal_loudness_reference(arrays, [t for t, s in splits.items() if s == "train"],
                                         [t for t, s in splits.items() if s == "test"])
    print(json.dumps(reference, indent=1))
    meta["reference"] = {"equal_loudness": reference}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    summarise(read_results(run / "results.csv"), run, get_task("mixing"), meta)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
