"""``booster evaluate``: the trained cells of a low-data experiment scored on another dataset.

Nothing is retrained. Each cell's best weights (``RUN/cells/*.safetensors``) are loaded into the
task's model; the new tracks get the run's inputs (the same booster checkpoint, features, random
control and label vocabulary), standardised with the statistics of the cell's own training subset
and decoded with the choices the cell made on the run's validation tracks (e.g. a threshold), so a
cell scored on its own test data reproduces its row of ``results.csv``. The new tracks join the
run's arrays under :data:`~downstream.tasks.base.EVAL_PREFIX`, so no id can clash with the run's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from downstream.experiment import (
    _append,
    cell_key,
    cell_weights,
    compute_inputs,
    get_task,
    load_arrays,
    read_results,
    subset,
    summarise,
)
from downstream.tasks.base import EVAL_PREFIX
from downstream.train import TrainConfig


class EvaluateError(ValueError):
    """A run or dataset that cannot be evaluated as asked; the message names it and the fix."""


def _check_run(task_name: str, run: Path) -> tuple[dict, list[dict]]:
    if not (run / "inputs.json").exists() or not (run / "inputs.npz").exists():
        raise EvaluateError(f"{run}: not an experiment run (no inputs.json/inputs.npz); give the --out folder "
                            "of `booster experiment low-data`")
    meta = json.loads((run / "inputs.json").read_text())
    if meta["key"]["task"] != task_name:
        raise EvaluateError(f"{run}: is a {meta['key']['task']} experiment, not {task_name}; "
                            f"run `booster evaluate {meta['key']['task']} ...`")
    rows = [r for r in read_results(run / "results.csv")
            if cell_weights(run, float(r["fraction"]), int(r["seed"]), r["variant"]).exists()]
    if not rows:
        raise EvaluateError(f"{run}: no cell has saved weights (cells/*.safetensors; runs before they were "
                            "saved have none); rerun the experiment")
    return meta, rows


def _check_labels(task_name: str, data: Path, arrays: dict, ids: list[str], failed: dict[str, str]) -> None:
    """Refuse data without the task's labels, with the reason the task gave."""
    if not ids:
        reason = next(iter(failed.values()), "no tracks")
        raise EvaluateError(f"{data}: none of its tracks has what {task_name} needs ({reason})")
    if task_name == "tagging" and not any(arrays["tags"][t].any() for t in ids):
        raise EvaluateError(f"{data}: no track carries any tag of the run's vocabulary; tagging needs tags")
    if task_name == "transcription" and not any(arrays["onsets"][t].any() for t in ids):
        raise EvaluateError(f"{data}: its tracks have no notes; transcription needs note labels (MIDI)")


def _read_kept(keep: Path, run: Path) -> list[dict]:
    """The rows of an earlier evaluation (``keep``, its results.csv) for cells of ``run``: what this call
    keeps for the cells whose weights are gone (cell weights are not committed with the tables)."""
    if not keep.is_file():
        raise EvaluateError(f"{keep}: no such results file; give the results.csv of an earlier "
                            "`booster evaluate` of this run on the same data, or leave out --keep")
    run_cells = {cell_key(r) for r in read_results(run / "results.csv")}
    rows = read_results(keep)
    if rows and "test_tracks" not in rows[0]:
        raise EvaluateError(f"{keep}: not the results.csv of `booster evaluate` (no test_tracks column)")
    return [r for r in rows if cell_key(r) in run_cells]


def evaluate_run(task_name: str, run: str | Path, data: str | Path, out: str | Path, split: str = "test",
                 workers: int = 1, progress: Callable[[str], None] | None = None,
                 keep: str | Path | None = None) -> list[dict]:
    """Score every saved cell of ``run`` on ``data``'s ``split`` tracks (every track if it has none of that
    split); writes ``OUT/results.csv`` and ``OUT/summary.md``. Returns the rows, those kept included.

    ``keep``: the results.csv of an earlier evaluation of the same run on the same tracks; its rows for
    cells this call cannot score (their weights are not in ``run``: trained in another session) are kept,
    and the summary covers both. A kept row scored on another number of tracks is refused."""
    from downstream.data.layouts import DatasetError, open_dataset

    run, data, out = Path(run), Path(data), Path(out)
    say = progress or (lambda msg: None)
    task = get_task(task_name)
    meta, cells = _check_run(task_name, run)
    scored_cells = {cell_key(c) for c in cells}
    kept = [r for r in _read_kept(Path(keep), run) if cell_key(r) not in scored_cells] if keep else []
    try:
        records = open_dataset(data)
    except (DatasetError, FileNotFoundError) as err:
        raise EvaluateError(str(err)) from None
    chosen = [r for r in records if r.split == split] or records
    chosen = [dataclasses.replace(r, track_id=EVAL_PREFIX + r.track_id, split="test") for r in chosen]
    out.mkdir(parents=True, exist_ok=True)

    key = meta["key"]
    model, features = _run_model(run, meta), key["features"]
    boosters = {}
    if "boost" in meta["boosters"]:
        boosters["boost"] = (model, out / "features-trained.zarr")
    if "boost_random" in meta["boosters"]:
        boosters["boost_random"] = (run / "random-booster", out / "features-random.zarr")
    say(f"{len(chosen)} tracks of {data}: inputs")
    new, extra, failed = compute_inputs(task, chosen, boosters, features, meta["boosters"], model, workers, say,
                                        vocabulary=meta.get("vocabulary") or None)
    ids = sorted(t for t in next(iter(new.values())) if t not in failed)
    _check_labels(task_name, data, new, ids, failed)
    other = sorted({int(r["test_tracks"]) for r in kept} - {len(ids)})
    if other:
        raise EvaluateError(f"{keep}: its rows were scored on {other[0]} tracks, this call on {len(ids)}; "
                            "keep only an evaluation of the same tracks")

    arrays = load_arrays(run)
    for prefix, per_item in new.items():
        arrays.setdefault(prefix, {}).update({t: x for t, x in per_item.items() if t in ids})
    by_split: dict[str, list[str]] = {}
    for t, s in meta["splits"].items():
        by_split.setdefault(s, []).append(t)
    val_ids = sorted(by_split.get("validation", []))
    cfg = TrainConfig()
    results = out / "results.csv"
    if results.exists():
        results.unlink()  # scores are recomputed whole: a partial file from an earlier call would mislead
    for row in kept:
        _append(results, row)
    rows = list(kept)
    for cell in cells:
        fraction, seed, variant = float(cell["fraction"]), int(cell["seed"]), cell["variant"]
        row = _score_cell(task, arrays, meta, run, fraction, seed, variant, by_split.get("train", []), val_ids,
                          ids, cfg, data)
        row.update({k: cell[k] for k in ("steps", "best_step", "stopped_by") if cell.get(k) not in (None, "")})
        _append(results, row)
        rows.append(row)
        say(f"{variant} f{fraction:g} s{seed}: " + ", ".join(f"{m} {row[m]:.3f}" for m in task.metrics if m in row))
    summary_meta = {"splits": {**{t: "train" for t in by_split.get("train", [])}, **{t: "test" for t in ids}},
                    "reference": extra.get("reference", {})}
    summarise(read_results(results), out, task, summary_meta)
    note = (f"Scored without retraining by `booster evaluate {task_name} --run {run} --data {data}`: the cells of "
            f"that run (trained on its own data), tested on {len(ids)} tracks of {data}"
            f"{f' ({split} split)' if any(r.split == split for r in records) else ' (all tracks)'}. "
            "Their inputs use the run's booster checkpoint, features, random control and vocabulary; "
            "each cell standardises with its own training subset and decodes with what it chose on the run's "
            "validation tracks.\n\n")
    if kept:
        note += (f"{len(kept)} of the {len(rows)} rows were kept from {keep} (an earlier evaluation of the same "
                 "run on the same tracks), for cells whose weights are not in the run folder.\n\n")
    summary = (out / "summary.md").read_text()
    title, _, rest = summary.partition("\n\n")
    (out / "summary.md").write_text(f"{title} (evaluated on another dataset)\n\n{note}{rest}")
    # the summary's inputs too, so that rows merged from several calls can be summarised again
    (out / "evaluate.json").write_text(json.dumps({"run": str(run), "data": str(data), "split": split,
                                                   "tracks": ids, "failed": failed, **summary_meta},
                                                  indent=1) + "\n")
    return rows


def _run_model(run: Path, meta: dict) -> Path:
    """The run's booster checkpoint (the path it recorded, or the bundled one), checked by fingerprint."""
    from booster.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, fingerprint

    want = meta["key"]["model"]
    for path in (meta.get("model_path"), DEFAULT_CHECKPOINT):
        try:
            if path and fingerprint(Path(path)) == want:
                return Path(path)
        except (CheckpointError, OSError):
            continue
    raise EvaluateError(f"{run}: its booster checkpoint ({want[:12]}) is gone from {meta.get('model_path')} and is "
                        "not the bundled one; restore it there")


def _score_cell(task, arrays, meta, run, fraction, seed, variant, train_split, val_ids, test_ids, cfg, data):
    import torch
    from safetensors.torch import load_file

    train_ids = subset(train_split, fraction, seed)
    _, val_ds, test_ds = task.datasets(arrays, meta, train_ids, val_ids, test_ids, variant, cfg, seed)
    torch.manual_seed(seed)
    model, _, predict = task.build(variant, meta, arrays)
    model.load_state_dict(load_file(str(cell_weights(run, fraction, seed, variant))))
    model.eval()
    run_data = Path(meta["key"]["data"])
    calibration = task.calibrate(model, predict, val_ds, run_data) if hasattr(task, "calibrate") else {}
    scores = task.evaluate(model, predict, test_ds, Path(data), **calibration)
    return {"fraction": fraction, "seed": seed, "variant": variant, "train_tracks": len(train_ids),
            "test_tracks": len(test_ids), **{k: float(v) for k, v in scores.items()}}
