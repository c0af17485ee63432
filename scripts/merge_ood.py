"""Merge out-of-domain scores of cells trained in different sessions into one table.

`booster evaluate` scores the cells whose weights are on disk. The cells of this run were trained over several
sessions, and a session's build folder (weights included) does not outlive it, so each session scores its own
cells and this script joins them with the rows committed before (a cell scored twice keeps its newer row),
then writes the summary again with `booster evaluate`'s note.

    .venv/bin/python scripts/merge_ood.py TASK EARLIER.csv EVAL_OUT RUN

New runs use `booster evaluate --keep EARLIER.csv` instead, which does the same inside evaluate (and keeps the
task's references); this script stays for the run.sh files of the runs that used it.

EARLIER.csv: the committed out-of-domain rows (e.g. ``git show HEAD:docs/results/X/ood/results.csv``);
EVAL_OUT: what ``booster evaluate`` wrote this session; RUN: the experiment's run folder (its inputs.json).
"""
import json
import sys
from pathlib import Path

from downstream.experiment import _append, cell_key, get_task, read_results, summarise

if len(sys.argv) != 5:
    sys.exit(__doc__)
task = get_task(sys.argv[1])
earlier, out, run = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
new = read_results(out / "results.csv")
scored = {cell_key(r) for r in new}
old = [r for r in read_results(earlier) if cell_key(r) not in scored]
order = {v: i for i, v in enumerate(task.variants)}
rows = sorted(old + new, key=lambda r: (float(r["fraction"]), int(r["seed"]), order.get(r["variant"], 99)))
note = (out / "summary.md").read_text().split("\n\n")[:2]  # evaluate's title and note
(out / "results.csv").unlink()
for r in rows:
    _append(out / "results.csv", r)
train = [t for t, s in json.loads((run / "inputs.json").read_text())["splits"].items() if s == "train"]
tested = json.loads((out / "evaluate.json").read_text())["tracks"]
summarise(read_results(out / "results.csv"), out, task,
          {"splits": {**{t: "train" for t in train}, **{t: "test" for t in tested}}, "reference": {}})
body = (out / "summary.md").read_text().split("\n\n", 1)[1]
(out / "summary.md").write_text("\n\n".join(note) + "\n\n" + body)
print(f"{len(old)} earlier rows + {len(new)} new rows -> {out / 'results.csv'}")
