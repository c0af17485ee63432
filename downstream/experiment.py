"""The low-data experiment: every task x labelled fraction x seed x variant, resumable.

``prepare`` computes every input once into ``OUT/inputs.npz`` (spectrograms, booster features of
the trained and of a random-weights booster, labels) and ``OUT/inputs.json`` (splits, vocabulary,
reference scores). Each *cell* (fraction, seed, variant) trains on the same subset of training
tracks for every variant (paired comparison), early-stops on the validation split and is scored on
the test split; its row is appended to ``OUT/results.csv`` at once, so a rerun skips finished cells.
``summarise`` writes ``summary.md`` (mean +- std, paired boosts with 95% CIs) and ``boost.png``.
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

from downstream.train import CropDataset, TrainConfig, WholeTracks, fit

log = logging.getLogger(__name__)
SAMPLE_RATE = 22050  # downstream inputs are computed from mono audio at this rate


def get_task(name: str):
    from downstream.tasks.tagging import TaggingTask
    from downstream.tasks.transcription import TranscriptionTask

    tasks = {"tagging": TaggingTask, "transcription": TranscriptionTask}
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(tasks)}")
    return tasks[name]()


@dataclass
class ExperimentConfig:
    task: str
    data: Path
    out: Path
    fractions: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.25, 1.0])
    seeds: int = 3
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
        unknown = set(self.variants or []) - set(get_task(self.task).variants)
        if unknown:
            raise ValueError(f"unknown variants {sorted(unknown)} for {self.task}; "
                             f"it has {', '.join(get_task(self.task).variants)}")


def _records(data: Path):
    from downstream.data.layouts import open_dataset

    return open_dataset(data)


def prepare(cfg: ExperimentConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Compute (or reuse) every input of the experiment under ``cfg.out``; returns ``inputs.json``'s content."""
    from booster.audio import AudioError, load_audio
    from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint
    from downstream.inputs import booster_features, random_checkpoint, spectrogram

    task = get_task(cfg.task)
    cfg.out.mkdir(parents=True, exist_ok=True)
    meta_path, arrays_path = cfg.out / "inputs.json", cfg.out / "inputs.npz"
    features = cfg.features or task.features
    variants = cfg.variants or list(task.variants)
    model = cfg.model or DEFAULT_CHECKPOINT
    key = {"task": cfg.task, "data": str(Path(cfg.data).resolve()), "features": features,
           "model": fingerprint(model), "variants": sorted(variants)}
    if meta_path.exists() and arrays_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return meta
        raise ValueError(f"{cfg.out}: holds an experiment with other settings ({meta.get('key')}); "
                         "use a new --out")
    say = progress or (lambda msg: None)
    records = _records(cfg.data)
    say(f"{len(records)} tracks: spectrograms")
    arrays, frames, failed = {}, {}, {}
    kept = []
    for r in records:
        try:
            audio, _ = load_audio(r.mix_path, SAMPLE_RATE, mono=True)
        except AudioError as err:
            failed[r.track_id] = str(err)
            continue
        spec = spectrogram(audio[0], SAMPLE_RATE, task.spectrogram)
        arrays[f"spec__{r.track_id}"] = spec
        frames[r.track_id] = len(spec)
        kept.append(r)
    records = kept
    boosters = {}
    if any(v in ("boosted", "probe") for v in variants):
        boosters["boost"] = (model, cfg.store or cfg.out / "features-trained.zarr")
    if any(v in ("control", "probe-control") for v in variants):
        boosters["boost_random"] = (random_checkpoint(model, cfg.out / "random-booster"),
                                    cfg.out / "features-random.zarr")
    for prefix, (ckpt, store) in boosters.items():
        say(f"booster features ({prefix}) into {store}")
        feats = booster_features(records, features, store, ckpt, workers=cfg.workers, frames=frames)
        for t, x in feats.items():
            arrays[f"{prefix}__{t}"] = x
        for r in records:
            if r.track_id not in feats:
                failed[r.track_id] = "booster features failed"
    records = [r for r in records if r.track_id not in failed]
    vocab = task.vocabulary(records)
    for t, y in task.static_labels(records, vocab).items():
        arrays[f"tags__{t}"] = y
    for name, per_track in task.timed_labels(records, frames).items():
        for t, y in per_track.items():
            arrays[f"{name}__{t}"] = y
    splits = {r.track_id: r.split for r in records}
    reference = {}
    if cfg.task == "transcription":
        from downstream.tasks.transcription import madmom_reference

        say("madmom's piano note model on the test split")
        reference = {"madmom_piano": madmom_reference([r for r in records if r.split == "test"])}
    np.savez(arrays_path, **arrays)
    meta = {"key": key, "splits": splits, "vocabulary": vocab, "failed": failed, "reference": reference,
            "boost_dim": int(next((a.shape[1] for k, a in arrays.items() if k.startswith("boost")), 0))}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def subset(tracks: list[str], fraction: float, seed: int) -> list[str]:
    """The labelled subset for ``(fraction, seed)``: the same for every variant, at least 2 tracks."""
    n = max(2, int(round(fraction * len(tracks))))
    rng = np.random.default_rng((seed, int(round(fraction * 1e6))))
    return sorted(rng.choice(sorted(tracks), size=min(n, len(tracks)), replace=False).tolist())


def standardise(feats: dict[str, np.ndarray], fit_on: list[str]) -> dict[str, np.ndarray]:
    """Z-score every feature dimension with the mean and std of the ``fit_on`` tracks' frames (the
    labelled training subset: nothing is learnt from validation or test audio). Booster layers differ
    in scale by orders of magnitude; a fused projection trains poorly on raw values."""
    frames = np.concatenate([feats[t] for t in fit_on], axis=0)
    mean, std = frames.mean(axis=0), frames.std(axis=0) + 1e-5
    return {t: ((x - mean) / std).astype(np.float32) for t, x in feats.items()}


def run_cell(out: str, task_name: str, data: str, fraction: float, seed: int, variant: str,
             train: dict) -> dict:
    """Train and test one variant on one subset. Runs in a worker process or inline."""
    cfg = TrainConfig(**train)
    task = get_task(task_name)
    meta = json.loads((Path(out) / "inputs.json").read_text())
    with np.load(Path(out) / "inputs.npz") as z:
        arrays: dict[str, dict[str, np.ndarray]] = {}
        for k in z.files:
            prefix, track = k.split("__", 1)
            arrays.setdefault(prefix, {})[track] = z[k]
    by_split: dict[str, list[str]] = {}
    for t, s in meta["splits"].items():
        by_split.setdefault(s, []).append(t)
    train_ids = subset(by_split.get("train", []), fraction, seed)
    val_ids, test_ids = sorted(by_split.get("validation", [])), sorted(by_split.get("test", []))
    if not val_ids or not test_ids:
        raise ValueError(f"{data}: needs validation and test tracks (splits.json or split folders)")
    boost_key = "boost_random" if variant in ("control", "probe-control") else "boost"
    timed = {"spec": arrays["spec"]}
    if variant != "baseline":
        timed["boost"] = standardise(arrays[boost_key], train_ids)
    static = {}
    if "tags" in arrays:
        static["tags"] = arrays["tags"]
    for name in ("onsets", "frames"):
        if name in arrays:
            timed[name] = arrays[name]
    n_bins = next(iter(arrays["spec"].values())).shape[1]
    n_out = len(meta["vocabulary"])
    import torch

    torch.manual_seed(seed)
    model, loss_fn, predict = task.build(variant, n_bins, n_out, meta["boost_dim"])
    t0 = time.perf_counter()
    info = fit(model, loss_fn, CropDataset(train_ids, timed, static, cfg.crop_frames, seed),
               WholeTracks(val_ids, timed, static), cfg, seed)
    test = WholeTracks(test_ids, timed, static)
    if task_name == "transcription":
        records = {r.track_id: r for r in _records(Path(data)) if r.track_id in set(test_ids)}
        scores = task.evaluate(model, predict, test, records)
    else:
        scores = task.evaluate(model, predict, test)
    return {"fraction": fraction, "seed": seed, "variant": variant, "train_tracks": len(train_ids),
            **scores, **info, "params": sum(p.numel() for p in model.parameters()),
            "seconds": round(time.perf_counter() - t0, 2)}


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
    done = {(float(r["fraction"]), int(r["seed"]), r["variant"]) for r in read_results(results)}
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


def _ci95(diffs: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of a paired t confidence interval (95%)."""
    from scipy import stats

    if len(diffs) < 2:
        return float(diffs.mean()), float("nan")
    half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    return float(diffs.mean()), float(half)


def summarise(rows: list[dict], out: Path, task, meta: dict) -> None:
    """``summary.md`` and ``boost.png`` from the result rows."""
    if not rows:
        return
    fractions = sorted({float(r["fraction"]) for r in rows})
    variants = [v for v in task.variants if any(r["variant"] == v for r in rows)]

    def values(metric, fraction, variant) -> dict[int, float]:
        return {int(r["seed"]): float(r[metric]) for r in rows
                if float(r["fraction"]) == fraction and r["variant"] == variant and r.get(metric) not in (None, "")}

    lines = [f"# Low-data experiment: {task.name}", "",
             f"Test split: {sum(1 for s in meta['splits'].values() if s == 'test')} tracks; "
             f"training split: {sum(1 for s in meta['splits'].values() if s == 'train')} tracks, of which each "
             "fraction uses a seeded subset shared by all variants (paired); validation split used whole for early "
             "stopping. `control` = the same booster architecture at random weights.", ""]
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
        pairs = [(a, b) for a, b in [("boosted", "baseline"), ("control", "baseline"), ("boosted", "control"),
                                     ("probe", "probe-control")] if a in variants and b in variants]
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
                    m, h = _ci95(np.array([va[s] - vb[s] for s in common]))
                    cells.append(f"{m:+.3f} [{m - h:+.3f}, {m + h:+.3f}]" if np.isfinite(h) else f"{m:+.3f}")
                lines.append(f"| {f:g} | " + " | ".join(cells) + " |")
            lines.append("")
    if meta.get("reference"):
        lines += ["## External reference", ""]
        for name, scores in meta["reference"].items():
            lines.append(f"- {name} on the same test tracks: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        lines.append("")
    (out / "summary.md").write_text("\n".join(lines))
    _plot(rows, out / "boost.png", task, fractions, variants, values)


def _plot(rows, path: Path, task, fractions, variants, values) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    ax.set_xlabel("labelled training fraction")
    ax.set_ylabel(metric)
    ax.set_title(f"{task.name}: {metric} vs labelled data (mean +- std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
