"""The low-data experiment: every task x labelled fraction x seed x variant, resumable.

``prepare`` computes every input once into ``OUT/inputs.npz`` (spectrograms, booster features of
the trained and of a random-weights booster, labels) and ``OUT/inputs.json`` (splits, vocabulary,
reference scores). Each *cell* (fraction, seed, variant) trains on the same subset of training
tracks for every variant (paired comparison), early-stops on the validation split and is scored on
the test split; its row is appended to ``OUT/results.csv`` at once, so a rerun skips finished cells.
``summarise`` writes ``summary.md`` (mean +- std, paired boosts with 95% CIs) and ``boost.png``;
``summarise_run`` does it again from a run folder alone (a stopped run, an edited results.csv).
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from booster.stats import paired_ci95
from downstream.train import TrainConfig, fit

log = logging.getLogger(__name__)


def get_task(name: str):
    from downstream.tasks.mixing import MixingTask
    from downstream.tasks.separation import SeparationTask
    from downstream.tasks.tagging import TaggingTask
    from downstream.tasks.transcription import TranscriptionTask

    tasks = {"tagging": TaggingTask, "transcription": TranscriptionTask, "separation": SeparationTask,
             "mixing": MixingTask}
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(tasks)}")
    return tasks[name]()


@dataclass
class ExperimentConfig:
    task: str
    data: Path
    out: Path
    fractions: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.25, 1.0])
    seeds: int = 5
    variants: list[str] | None = None  # default: all of the task's
    features: list[str] | None = None  # booster features; default: the task's
    store: Path | None = None  # an existing feature store of the trained booster
    model: Path | None = None  # booster checkpoint (default: bundled)
    workers: int = 1
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        get_task(self.task)
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ValueError(f"--fractions must be in (0, 1] (got {self.fractions})")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1 (got {self.seeds})")
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1 (got {self.workers})")
        task = get_task(self.task)
        known = (*task.variants, *getattr(task, "ablations", ()))
        unknown = set(self.variants or []) - set(known)
        if unknown:
            raise ValueError(f"unknown variants {sorted(unknown)} for {self.task}; it has {', '.join(known)}")


def _records(data: Path):
    from downstream.data.layouts import open_dataset

    return open_dataset(data)


def prepare(cfg: ExperimentConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Compute (or reuse) every input of the experiment under ``cfg.out``; returns ``inputs.json``'s content."""
    from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint
    from downstream.inputs import random_checkpoint
    from downstream.tasks.base import boost_key

    task = get_task(cfg.task)
    cfg.out.mkdir(parents=True, exist_ok=True)
    meta_path, arrays_path = cfg.out / "inputs.json", cfg.out / "inputs.npz"
    features = cfg.features or task.features
    variants = cfg.variants or list(task.variants)
    model = cfg.model or DEFAULT_CHECKPOINT
    key = {"task": cfg.task, "data": str(Path(cfg.data).resolve()), "features": features,
           "model": fingerprint(model)}
    needed = sorted({boost_key(v) for v in variants if v.split("-")[0] != "baseline"})
    if meta_path.exists() and arrays_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != key:
            raise ValueError(f"{cfg.out}: holds an experiment with other settings ({meta.get('key')}); "
                             "use a new --out")
        missing = set(needed) - set(meta.get("boosters", []))
        if missing:
            raise ValueError(f"{cfg.out}: its inputs lack {sorted(missing)} features for these variants; "
                             "use a new --out")
        return meta
    say = progress or (lambda msg: None)
    boosters = {}  # array prefix -> (checkpoint, store)
    if "boost" in needed:
        boosters["boost"] = (model, cfg.store or cfg.out / "features-trained.zarr")
    if "boost_random" in needed:
        boosters["boost_random"] = (random_checkpoint(model, cfg.out / "random-booster"),
                                    cfg.out / "features-random.zarr")
    records = _records(cfg.data)
    say(f"{len(records)} tracks: inputs")
    arrays, extra, failed = compute_inputs(task, records, boosters, features, needed, model, cfg.workers, say)
    splits = {r.track_id: r.split for r in records if r.track_id not in failed}
    flat = {f"{prefix}__{item}": x for prefix, per_item in arrays.items() for item, x in per_item.items()}
    np.savez(arrays_path, **flat)
    boost_dims = [x.shape[-1] for k, x in flat.items() if k.startswith("boost")]
    meta = {"key": key, "model_path": str(Path(model).resolve()), "boosters": needed, "splits": splits,
            "failed": failed,
            "boost_dim": int(boost_dims[0]) if boost_dims else 0,
            "vocabulary": [], "reference": {}, **extra}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def compute_inputs(task, records, boosters: dict, features: list[str], needed: list[str], model: Path,
                   workers: int, say, vocabulary: list[str] | None = None) -> tuple[dict, dict, dict]:
    """A task's inputs of ``records``: ``(prefix -> id -> array, extra meta, failed id -> reason)``, with
    booster features from ``boosters`` (``prefix -> (checkpoint, store)``) and the capacity control's
    projection if ``needed``; ``vocabulary`` fixes the label vocabulary (a trained model's)."""
    from downstream.inputs import booster_features, capacity_features, feature_width

    def boost(items: list[tuple[str, str]], frames: dict[str, int]) -> dict[str, dict[str, np.ndarray]]:
        """Booster features of audio files, per booster: ``prefix -> id -> (frames, dim)``."""
        out = {}
        for prefix, (ckpt, store) in boosters.items():
            say(f"booster features ({prefix}) of {len(items)} files into {store}")
            out[prefix] = booster_features(items, features, store, ckpt, workers=workers, frames=frames)
        return out

    arrays, extra, failed = task.prepare_inputs(records, boost, say, vocabulary=vocabulary)
    if "boost_capacity" in needed:
        # only the spectrogram tasks offer the variant (validate() refuses it elsewhere)
        arrays["boost_capacity"] = capacity_features(arrays["spec"], feature_width(model, features))
    return arrays, extra, failed


def cell_weights(out: str | Path, fraction: float, seed: int, variant: str) -> Path:
    """Where a cell's best weights are kept (safetensors): what ``booster evaluate`` scores again."""
    return Path(out) / "cells" / f"{variant}-f{fraction:g}-s{seed}.safetensors"


def subset(tracks: list[str], fraction: float, seed: int) -> list[str]:
    """The labelled subset for ``(fraction, seed)``: the same for every variant, at least 2 tracks."""
    n = max(2, int(round(fraction * len(tracks))))
    rng = np.random.default_rng((seed, int(round(fraction * 1e6))))
    return sorted(rng.choice(sorted(tracks), size=min(n, len(tracks)), replace=False).tolist())


def load_arrays(out: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``inputs.npz`` grouped as ``prefix -> item id -> array``."""
    arrays: dict[str, dict[str, np.ndarray]] = {}
    with np.load(Path(out) / "inputs.npz") as z:
        for k in z.files:
            prefix, item = k.split("__", 1)
            arrays.setdefault(prefix, {})[item] = z[k]
    return arrays


def run_cell(out: str, task_name: str, data: str, fraction: float, seed: int, variant: str,
             train: dict) -> dict:
    """Train and test one variant on one subset. Runs in a worker process or inline."""
    import torch

    cfg = TrainConfig(**train)
    task = get_task(task_name)
    meta = json.loads((Path(out) / "inputs.json").read_text())
    arrays = load_arrays(out)
    by_split: dict[str, list[str]] = {}
    for t, s in meta["splits"].items():
        by_split.setdefault(s, []).append(t)
    train_ids = subset(by_split.get("train", []), fraction, seed)
    val_ids, test_ids = sorted(by_split.get("validation", [])), sorted(by_split.get("test", []))
    if not val_ids or not test_ids:
        raise ValueError(f"{data}: needs validation and test tracks (splits.json or split folders)")
    train_ds, val_ds, test_ds = task.datasets(arrays, meta, train_ids, val_ids, test_ids, variant, cfg, seed)
    torch.manual_seed(seed)
    model, loss_fn, predict = task.build(variant, meta, arrays)
    t0 = time.perf_counter()
    info = fit(model, loss_fn, train_ds, val_ds, cfg, seed)
    from safetensors.torch import save_file

    weights = cell_weights(out, fraction, seed, variant)
    weights.parent.mkdir(exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(weights))
    # decoding choices (e.g. a threshold) are fixed on the validation tracks, never on the test tracks
    calibration = task.calibrate(model, predict, val_ds, Path(data)) if hasattr(task, "calibrate") else {}
    scores = task.evaluate(model, predict, test_ds, Path(data), **calibration)
    return {"fraction": fraction, "seed": seed, "variant": variant, "train_tracks": len(train_ids),
            **scores, **info, "params": sum(p.numel() for p in model.parameters()),
            "seconds": round(time.perf_counter() - t0, 2)}


def cell_key(row: dict) -> tuple[float, int, str]:
    """A results.csv row's cell: ``(fraction, seed, variant)``."""
    return float(row["fraction"]), int(row["seed"]), row["variant"]


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _append(path: Path, row: dict) -> None:
    new = not path.exists()
    rows = read_results(path)
    fields = list(rows[0].keys()) if rows else list(row.keys())
    for k in row:
        if k not in fields:  # a column a later cell adds: rewrite with the wider header
            fields.append(k)
            new = True
    if new and rows:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        new = False
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow(row)
        f.flush()


def run_experiment(cfg: ExperimentConfig, on_cell: Callable[[dict], None] | None = None,
                   progress: Callable[[str], None] | None = None) -> list[dict]:
    """Run every missing cell; returns all rows of ``results.csv``."""
    cfg.validate()
    meta = prepare(cfg, progress)
    task = get_task(cfg.task)
    variants = cfg.variants or list(task.variants)
    results = cfg.out / "results.csv"
    done = {cell_key(r) for r in read_results(results)}
    cells = [(f, s, v) for f in cfg.fractions for s in range(cfg.seeds) for v in variants
             if (float(f), s, v) not in done]
    args = (str(cfg.out), cfg.task, str(cfg.data))
    train = asdict(cfg.train)
    if cfg.workers > 1 and len(cells) > 1:
        with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_cell, *args, f, s, v, train) for f, s, v in cells]
            for fut in as_completed(futures):
                row = fut.result()
                _append(results, row)
                if on_cell:
                    on_cell(row)
    else:
        for f, s, v in cells:
            row = run_cell(*args, f, s, v, train)
            _append(results, row)
            if on_cell:
                on_cell(row)
    rows = read_results(results)
    summarise(rows, cfg.out, task, meta)
    return rows


def summarise_run(out: str | Path) -> list[dict]:
    """Rewrite ``OUT/summary.md`` and ``OUT/boost.png`` from ``OUT/results.csv`` and ``OUT/inputs.json`` alone.

    For a run that was stopped before its end (the runner summarises only when every cell is done), or whose
    results.csv was extended or edited by hand. Trains nothing and needs neither the data nor the inputs' arrays.
    Returns the rows; raises ``ValueError`` naming the folder when it is not a low-data experiment's output.
    """
    out = Path(out)
    meta_path, results = out / "inputs.json", out / "results.csv"
    if not out.is_dir():
        raise ValueError(f"{out}: no such experiment folder")
    if not meta_path.exists():
        raise ValueError(f"{out}: no inputs.json; not the --out folder of `booster experiment low-data`")
    try:
        meta = json.loads(meta_path.read_text())
        task = get_task(meta["key"]["task"])
        if not isinstance(meta["splits"], dict):
            raise TypeError("its splits are not a mapping")
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{meta_path}: unreadable ({err}); rerun `booster experiment low-data` into a new --out") from err
    rows = read_results(results)
    if not rows:
        raise ValueError(f"{results}: no finished cells to summarise")
    missing = {"fraction", "seed", "variant", "train_tracks"} - set(rows[0])
    if missing:
        raise ValueError(f"{results}: lacks the columns {sorted(missing)}; not a low-data experiment's results")
    try:
        summarise(rows, out, task, meta)
    except (ValueError, KeyError) as err:  # a hand-edited row: say which file, not just the bad value
        raise ValueError(f"{results}: a row does not parse ({err!r}); mend or remove it") from err
    return rows


def convergence_lines(rows: list[dict]) -> list[str]:
    """How the cells stopped: by validation patience (converged) or by the wall-clock cap (not)."""
    stops = [r.get("stopped_by") or "unrecorded" for r in rows]
    counts = {k: stops.count(k) for k in ("patience", "cap", "max_steps", "unrecorded") if k in stops}
    line = (f"Convergence: {len(rows)} cells; " + ", ".join(f"{n} stopped by {k}" for k, n in counts.items())
            + ". `patience`: the validation loss stopped improving (the best weights are kept, `best_step` in "
            "results.csv); `cap`: the per-cell wall-clock cap ended it first (not converged).")
    late = [r for r in rows if r.get("best_step") not in (None, "") and r.get("steps") not in (None, "")
            and int(float(r["steps"])) > 0 and int(float(r["best_step"])) >= 0.9 * int(float(r["steps"]))]
    if late:
        line += f" In {len(late)} cells the best step was in the last 10% of the steps run."
    return [line]


def summarise(rows: list[dict], out: Path, task, meta: dict) -> None:
    """``summary.md`` and ``boost.png`` from the result rows."""
    if not rows:
        return
    fractions = sorted({float(r["fraction"]) for r in rows})
    order = (*task.variants, *getattr(task, "ablations", ()))
    variants = [v for v in order if any(r["variant"] == v for r in rows)]

    def values(metric, fraction, variant) -> dict[int, float]:
        return {int(r["seed"]): float(r[metric]) for r in rows
                if float(r["fraction"]) == fraction and r["variant"] == variant and r.get(metric) not in (None, "")}

    lines = [f"# Low-data experiment: {task.name}", "",
             f"Test split: {sum(1 for s in meta['splits'].values() if s == 'test')} tracks; "
             f"training split: {sum(1 for s in meta['splits'].values() if s == 'train')} tracks, of which each "
             "fraction uses a seeded subset shared by all variants (paired); validation split used whole for early "
             "stopping. `control` = the same booster architecture at random weights; `capacity` = the same fusion "
             "fed a fixed random projection of the model's own spectrogram, as wide as the booster features "
             "(extra parameters and width, no new information).",
             "" if not getattr(task, "lower_is_better", False) else "\nLower is better for every metric here.", "",
             *convergence_lines(rows), ""]
    for metric in task.metrics:
        lines += [f"## {metric} (mean +- std over seeds)", "", "| fraction | tracks | " + " | ".join(variants) + " |",
                  "|---" * (len(variants) + 2) + "|"]
        for f in fractions:
            tracks = next((r["train_tracks"] for r in rows if float(r["fraction"]) == f), "")
            cells = []
            for v in variants:
                x = np.array(list(values(metric, f, v).values()))
                cells.append(f"{x.mean():.3f} +- {x.std(ddof=1) if len(x) > 1 else 0:.3f}" if len(x) else "")
            lines.append(f"| {f:g} | {tracks} | " + " | ".join(cells) + " |")
        lines.append("")
        candidates = [("boosted", "baseline"), ("control", "baseline"), ("boosted", "control"),
                      ("capacity", "baseline"), ("boosted", "capacity"), ("probe", "probe-control")]
        for suffix in ("-zero", "-late"):
            candidates += [(f"boosted{suffix}", "baseline"), (f"boosted{suffix}", f"control{suffix}")]
        for suffix in ("-rule",):  # ablations with their own baseline
            candidates += [(f"boosted{suffix}", f"baseline{suffix}"), (f"boosted{suffix}", f"control{suffix}"),
                           (f"boosted{suffix}", f"capacity{suffix}"), (f"baseline{suffix}", "baseline")]
        pairs = [(a, b) for a, b in candidates if a in variants and b in variants]
        if pairs:
            lines += [f"Paired differences in {metric} (mean [95% CI] over seeds):", "",
                      "| fraction | " + " | ".join(f"{a} - {b}" for a, b in pairs) + " |",
                      "|---" * (len(pairs) + 1) + "|"]
            for f in fractions:
                cells = []
                for a, b in pairs:
                    va, vb = values(metric, f, a), values(metric, f, b)
                    common = sorted(set(va) & set(vb))
                    if not common:
                        cells.append("")
                        continue
                    cells.append(_difference(np.array([va[s] - vb[s] for s in common]), a, task))
                lines.append(f"| {f:g} | " + " | ".join(cells) + " |")
            lines.append("")
    if meta.get("reference"):
        lines += ["## External reference", ""]
        for name, scores in meta["reference"].items():
            lines.append(f"- {name} on the same test tracks: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        lines.append("")
        for name, scores in meta["reference"].items():
            lines += _reference_table(name, scores, task, fractions, variants, values)
    (out / "summary.md").write_text("\n".join(lines))
    _plot(rows, out / "boost.png", task, fractions, variants, values)


def _difference(diffs: np.ndarray, better_name: str, task) -> str:
    """One table cell: the mean of ``diffs`` (seeds,) with its 95% interval, and on how many seeds
    ``better_name`` was the better one."""
    m, h = paired_ci95(diffs)
    better = int(((-diffs if getattr(task, "lower_is_better", False) else diffs) > 0).sum())
    ci = f" [{m - h:+.3f}, {m + h:+.3f}]" if np.isfinite(h) else ""
    return f"{m:+.3f}{ci}, {better_name} better on {better}/{len(diffs)} seeds"


def _reference_table(name: str, scores: dict, task, fractions, variants, values) -> list[str]:
    """Each variant minus a reference, per metric: the reference is one figure on the same test tracks
    (no seeds), so the interval is the spread of the variant's seeds around it."""
    metrics = [m for m in task.metrics if m in scores]
    if not metrics:
        return []
    lines = [f"Each variant minus {name} (mean [95% CI] over seeds):", "",
             "| fraction | variant | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 2) + "|"]
    for f in fractions:
        for v in variants:
            cells = []
            for metric in metrics:
                x = np.array(list(values(metric, f, v).values()))
                cells.append(_difference(x - scores[metric], v, task) if len(x) else "")
            if any(cells):
                lines.append(f"| {f:g} | {v} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _plot(rows, path: Path, task, fractions, variants, values) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    metric = task.metrics[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for v in variants:
        means, stds = [], []
        for f in fractions:
            x = np.array(list(values(metric, f, v).values()))
            means.append(x.mean() if len(x) else np.nan)
            stds.append(x.std(ddof=1) if len(x) > 1 else 0.0)
        ax.errorbar(fractions, means, yerr=stds, marker="o", capsize=3, label=v)
    ax.set_xscale("log")
    ax.set_xticks(fractions)
    ax.set_xticklabels([f"{f:g}" for f in fractions])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("labelled training fraction")
    ax.set_ylabel(metric)
    ax.set_title(f"{task.name}: {metric} vs labelled data (mean +- std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
