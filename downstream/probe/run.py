"""``booster probe``: linear probes of a checkpoint's features against spectrogram baselines and
the same architecture at random weights, all in one run on the held-out probe set.

Representations (every one through the same probes):

- ``logmel`` (64 mel bands) and ``semitone`` (24 bands per octave): what a downstream model
  computes from its own input;
- ``booster:<feature>`` and ``booster:all`` (every probed feature concatenated);
- ``random:<feature>`` and ``random:all``: the same architecture at random weights (the control
  that tells pretraining from architecture);
- ``semitone+booster``, ``logmel+booster`` and ``semitone+random``: what a boosted model sees.

Probes: clip tags with 24 and 120 labelled tracks (repeated random subsets of the training pool,
the same subsets for every representation), and frame-level pitch, onset and instrument
activity at 50 fps (train / validation / test tracks fixed by the probe set).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from booster.stats import paired_ci95
from downstream.probe.linear import FrameProbe, best_threshold, frame_f1, pooled, select_c, tag_auc
from downstream.probe.probe_set import FRAME_TASKS, ProbeSet

SPECTROGRAMS = ("logmel", "semitone")
COMBINED = {"semitone+booster": ("semitone", "booster:all"), "logmel+booster": ("logmel", "booster:all"),
            "semitone+random": ("semitone", "random:all")}


@dataclass(frozen=True)
class ProbeConfig:
    tag_sizes: tuple[int, ...] = (24, 120)
    tag_repeats: int = 5
    tag_c: float | None = 1.0      # inverse L2 strength of the tag regressions; None: chosen per labelled subset
    tag_c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)  # ... from these, by cross-validation inside it
    frame_l2: float = 1e-4
    frame_max_iter: int = 80
    frame_train_stride: int = 2    # train frame probes on every 2nd frame (neighbours are near copies)
    per_feature: bool = True       # also probe each feature on its own, not only all together


def representations(ps: ProbeSet, booster: dict[str, list[np.ndarray]],
                    random: dict[str, list[np.ndarray]], per_feature: bool = True,
                    references: dict[str, list[np.ndarray]] | None = None) -> dict[str, list[np.ndarray]]:
    """Every representation probed, ``name -> per track (frames, dim)``; ``references`` (teacher
    outputs) come last as ``ref:<teacher>``."""
    def cat(parts: list[list[np.ndarray]]) -> list[np.ndarray]:
        return [np.concatenate(track, axis=1) for track in zip(*parts, strict=True)]

    reps: dict[str, list[np.ndarray]] = {s: ps.spectrograms[s] for s in SPECTROGRAMS}
    for prefix, feats in (("booster", booster), ("random", random)):
        if per_feature:
            reps.update({f"{prefix}:{n}": v for n, v in feats.items()})
        reps[f"{prefix}:all"] = cat(list(feats.values()))
    for name, (a, b) in COMBINED.items():
        reps[name] = cat([reps[a], reps[b]])
    for name, x in (references or {}).items():
        reps[f"ref:{name}"] = x
    return reps


def tag_probes(ps: ProbeSet, x: list[np.ndarray], cfg: ProbeConfig) -> tuple[dict[str, list[float]], dict]:
    """Macro ROC-AUC per labelled-set size, one value per repeat: ``{"24": [...], "120": [...]}``, and the
    inverse L2 strength each repeat used, in the same shape (chosen on its labelled tracks alone unless
    ``cfg.tag_c`` fixes it)."""
    feats = pooled(x)
    pool = ps.splits["train"] + ps.splits["val"]
    out, chosen = {}, {}
    for size in cfg.tag_sizes:
        if size > len(pool):
            raise ValueError(f"tag probe with {size} tracks, but the probe set's training pool has {len(pool)}")
        out[str(size)], chosen[str(size)] = [], []
        for r in range(cfg.tag_repeats):
            labelled = sorted(np.random.default_rng(r).choice(pool, size, replace=False))
            c = cfg.tag_c if cfg.tag_c is not None else select_c(feats, ps.tags, labelled, cfg.tag_c_grid)
            out[str(size)].append(tag_auc(feats, ps.tags, labelled, ps.splits["test"], c))
            chosen[str(size)].append(c)
    return out, chosen


def frame_probes(ps: ProbeSet, x: list[np.ndarray], cfg: ProbeConfig) -> dict[str, dict]:
    """One linear layer for all frame tasks at once (outputs are independent, so this equals one fit
    per task); per task: threshold from validation, test micro F1, and F1 per test track."""
    widths = [ps.frame_labels[t][0].shape[1] for t in FRAME_TASKS]
    edges = np.cumsum([0] + widths)

    def stack(split: str, stride: int = 1):
        idx = ps.splits[split]
        xs = np.concatenate([x[i][::stride] for i in idx])
        ys = np.concatenate([np.concatenate([ps.frame_labels[t][i] for t in FRAME_TASKS], axis=1)[::stride]
                             for i in idx])
        return xs, ys

    probe = FrameProbe(cfg.frame_l2, cfg.frame_max_iter).fit(*stack("train", cfg.frame_train_stride))
    xv, yv = stack("val")
    pv = probe.predict(xv)
    test = ps.splits["test"]
    pt = [probe.predict(x[i]) for i in test]
    out = {}
    for k, task in enumerate(FRAME_TASKS):
        cols = slice(edges[k], edges[k + 1])
        thr = best_threshold(pv[:, cols], yv[:, cols])
        p_all = np.concatenate([p[:, cols] for p in pt])
        y_all = np.concatenate([ps.frame_labels[task][i] for i in test])
        # val_f1 (at the threshold chosen on the same tracks, so optimistic) is for choosing between
        # checkpoints without looking at the test tracks
        out[task] = {"f1": frame_f1(p_all, y_all, thr), "threshold": thr, "val_f1": frame_f1(pv[:, cols], yv[:, cols], thr),
                     "per_track": [frame_f1(p[:, cols], ps.frame_labels[task][i], thr) for p, i in zip(pt, test, strict=True)]}
    return out


def compare(results: dict, a: str, b: str, probe: str) -> dict:
    """Paired difference ``a - b`` of one probe: over the tag repeats, or over the test tracks."""
    if probe.startswith("tags@"):
        size = probe.split("@")[1]
        da, db = results["tags"][a][size], results["tags"][b][size]
        va, vb = float(np.mean(da)), float(np.mean(db))
    else:
        da, db = results["frame"][a][probe]["per_track"], results["frame"][b][probe]["per_track"]
        va, vb = results["frame"][a][probe]["f1"], results["frame"][b][probe]["f1"]
    mean, half = paired_ci95(np.array(da) - np.array(db))
    return {"a": a, "b": b, "probe": probe, "a_value": va, "b_value": vb, "diff": va - vb,
            "paired_mean": mean, "ci95_half": half}


def acceptance_checks(results: dict) -> list[dict]:
    """The Booster v2 targets, each as a paired comparison with its margin and whether it is met."""
    frame = results["frame"]
    small = f"tags@{min(int(s) for s in next(iter(results['tags'].values())))}"  # 24 labelled tracks by default
    best_spec_instr = max(SPECTROGRAMS, key=lambda s: frame[s]["instrument"]["f1"])
    rows = [(compare(results, "booster:all", "logmel", small), 0.08),
            (compare(results, "booster:all", "random:all", small), 0.10),
            (compare(results, "semitone+booster", "semitone", "pitch"), 0.05),
            (compare(results, "booster:all", best_spec_instr, "instrument"), 0.10)]
    checks = []
    for c, margin in rows:
        checks.append({**c, "target": f"{c['a']} >= {c['b']} + {margin:g} ({c['probe']})",
                       "margin": margin, "met": c["diff"] >= margin})
    ratio = frame["booster:all"]["pitch"]["f1"] / max(1e-9, frame["semitone"]["pitch"]["f1"])
    checks.append({"target": "booster:all >= 0.8 x semitone (pitch)", "a": "booster:all", "b": "semitone",
                   "probe": "pitch", "a_value": frame["booster:all"]["pitch"]["f1"],
                   "b_value": frame["semitone"]["pitch"]["f1"], "ratio": ratio, "met": ratio >= 0.8})
    return checks


def run_probe(ps: ProbeSet, booster: dict[str, list[np.ndarray]], random: dict[str, list[np.ndarray]],
              cfg: ProbeConfig | None = None, say: Callable[[str], None] = print,
              references: dict[str, list[np.ndarray]] | None = None) -> dict:
    """All probes of all representations; the result is what ``booster probe --out`` writes."""
    cfg = cfg or ProbeConfig()
    reps = representations(ps, booster, random, cfg.per_feature, references)
    results: dict = {"config": asdict(cfg), "probe_set": {**ps.config.to_dict(), "tracks": len(ps.ids),
                                                          "tags": ps.tag_names, "instruments": ps.instrument_names,
                                                          "splits": {k: len(v) for k, v in ps.splits.items()}},
                     "tags": {}, "tag_c": {}, "frame": {}, "dims": {}, "seconds": {}}
    for name, x in reps.items():
        t0 = time.perf_counter()
        results["dims"][name] = int(x[0].shape[1])
        results["tags"][name], results["tag_c"][name] = tag_probes(ps, x, cfg)
        results["frame"][name] = frame_probes(ps, x, cfg)
        results["seconds"][name] = time.perf_counter() - t0
        f = results["frame"][name]
        say(f"{name}: tags@{cfg.tag_sizes[0]} {np.mean(results['tags'][name][str(cfg.tag_sizes[0])]):.3f}, "
            + ", ".join(f"{t} {f[t]['f1']:.3f}" for t in FRAME_TASKS) + f" ({results['seconds'][name]:.0f} s)")
    results["checks"] = acceptance_checks(results) if "booster:all" in reps else []
    return results


def report_table(results: dict, title: str = "linear probes"):
    """A rich table: one row per representation, mean +- 95% half-width over the tag repeats."""
    from rich.table import Table

    sizes = list(next(iter(results["tags"].values())).keys())
    table = Table(title=title)
    table.add_column("representation", no_wrap=True)
    table.add_column("dim", justify="right")
    for s in sizes:
        table.add_column(f"tags ROC-AUC @{s}", justify="right")
    for t in FRAME_TASKS:
        table.add_column(f"{t} F1", justify="right")
    for name in results["tags"]:
        cells = []
        for s in sizes:
            mean, half = paired_ci95(np.array(results["tags"][name][s]))
            cells.append(f"{mean:.3f} ± {half:.3f}")
        table.add_row(name, str(results["dims"][name]), *cells,
                      *(f"{results['frame'][name][t]['f1']:.3f}" for t in FRAME_TASKS))
    return table


def _check_cells(c: dict) -> tuple[str, ...]:
    """One target's row: target, ours, reference, difference (or ratio), met."""
    diff = (f"x{c['ratio']:.2f}" if "ratio" in c
            else f"{c['diff']:+.3f} (paired {c['paired_mean']:+.3f} ± {c['ci95_half']:.3f})")
    return c["target"], f"{c['a_value']:.3f}", f"{c['b_value']:.3f}", diff, "yes" if c["met"] else "no"


def checks_table(results: dict):
    from rich.table import Table

    table = Table(title="Booster v2 targets (paired differences, 95% CI)")
    for c in ("target", "ours", "reference", "difference", "met"):
        table.add_column(c)
    for c in results["checks"]:
        table.add_row(*_check_cells(c))
    return table


def write_markdown(results: dict, path: str | Path, title: str) -> None:
    """The probe table as markdown (for model cards and result notes)."""
    sizes = list(next(iter(results["tags"].values())).keys())
    lines = [f"### {title}", "",
             "| representation | dim | " + " | ".join(f"tags ROC-AUC @{s}" for s in sizes) + " | "
             + " | ".join(f"{t} F1" for t in FRAME_TASKS) + " |",
             "|---|---|" + "---|" * (len(sizes) + len(FRAME_TASKS))]
    for name in results["tags"]:
        tags = [paired_ci95(np.array(results["tags"][name][s])) for s in sizes]
        lines.append(f"| {name} | {results['dims'][name]} | " + " | ".join(f"{m:.3f} ± {h:.3f}" for m, h in tags)
                     + " | " + " | ".join(f"{results['frame'][name][t]['f1']:.3f}" for t in FRAME_TASKS) + " |")
    if results["checks"]:
        lines += ["", "| target | ours | reference | difference | met |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_check_cells(c)) + " |" for c in results["checks"]]
    Path(path).write_text("\n".join(lines) + "\n")
