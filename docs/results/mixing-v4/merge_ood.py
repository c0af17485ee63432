"""Merge the out-of-domain rows of cells trained in different sessions, and write their summary again.

`booster evaluate` scores the cells whose weights are in the run folder. Cell weights are not committed, so a later
session that adds variants to this run (the `-rule` ablations, session 40) has only the new cells' weights: its
evaluate call scores only those. This script keeps the committed rows of the other cells (scored by session 39 on
the same 40 tracks) beside the new ones. A row of the new call replaces a committed row of the same cell.
The summary is written with the new call's `evaluate.json` (splits and the equal-loudness reference).

Usage: python docs/results/mixing-v4/merge_ood.py COMMITTED_CSV EVALUATE_DIR
  e.g. git show HEAD:docs/results/mixing-v4/ood-music21-fluidr3/results.csv > /tmp/ood-s39.csv
       python docs/results/mixing-v4/merge_ood.py /tmp/ood-s39.csv build/mixing-v4/run/ood-music21-fluidr3
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from downstream.experiment import get_task, read_results, summarise


def cell(row: dict) -> tuple[float, int, str]:
    return float(row["fraction"]), int(row["seed"]), row["variant"]


def main(committed: Path, out: Path) -> None:
    new = read_results(out / "results.csv")
    fresh = {cell(r) for r in new}
    kept = [r for r in read_results(committed) if cell(r) not in fresh]
    rows = kept + new
    record = json.loads((out / "evaluate.json").read_text())
    if set(record["tracks"]) != {t for t, s in record["splits"].items() if s == "test"}:
        raise SystemExit(f"{out}/evaluate.json: its splits do not match its tracks; evaluate again")
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (float(r["fraction"]), int(r["seed"]), r["variant"])))
    summary = out / "summary.md"
    title, _, rest = summary.read_text().partition("\n\n")  # evaluate's title and note, kept
    scored_by = rest.partition("\n\n")[0]
    summarise(read_results(out / "results.csv"), out, get_task("mixing"), record)
    body = summary.read_text().split("\n\n", 1)[1]
    note = (f"Rows: {len(new)} cells scored by this call, {len(kept)} kept from {committed} "
            "(cells trained and scored in an earlier session, on the same tracks; their weights are not "
            "committed).\n\n")
    summary.write_text(f"{title}\n\n{scored_by}\n\n{note}{body}")
    print(f"{len(new)} new + {len(kept)} kept rows -> {out / 'results.csv'}; summary {summary}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
