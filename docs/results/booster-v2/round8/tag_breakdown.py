"""Which tags does the booster lose on? Per-tag ROC-AUC of the probe's clip-tag regressions (the same
pooled features, subsets and regressions as ``booster probe``), for the spectrogram baselines, the
booster's features and the random-weights control, on the held-out probe set's test tracks.

Run: .venv/bin/python docs/results/booster-v2/round8/tag_breakdown.py [CHECKPOINT] [test|val] > tag_breakdown.md
(features come from the probe's cache under build/probe when ``booster probe`` has run on CHECKPOINT).
``val`` fits on subsets of the training tracks alone and scores the validation tracks: the figure to choose
checkpoints by without looking at the test tracks (``booster probe``'s tag figures score the test tracks).
"""

from __future__ import annotations

import sys

import numpy as np

from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint
from downstream.inputs import random_checkpoint
from downstream.probe.linear import per_tag_auc, pooled
from downstream.probe.probe_set import load_probe_set
from downstream.probe.representations import booster_frames
from downstream.probe.run import ProbeConfig, representations

WORK = "build/probe"
SHOWN = ("logmel", "semitone", "booster:all", "booster:top.layer4", "booster:mid.layer4", "booster:readout.layer6",
         "booster:readout.head", "random:all")


def main(checkpoint: str, split: str = "test") -> None:
    cfg = ProbeConfig()
    ps = load_probe_set(f"{WORK}/set", None, lambda s: None)
    control = random_checkpoint(checkpoint, f"{WORK}/random-{fingerprint(checkpoint)[:12]}-seed0", 0)
    reps = representations(ps, booster_frames(ps, checkpoint, None, f"{WORK}/cache"),
                           booster_frames(ps, control, None, f"{WORK}/cache"))
    if split not in ("test", "val"):
        raise SystemExit(f"split must be test or val, got {split!r}")
    pool = ps.splits["train"] + (ps.splits["val"] if split == "test" else [])
    test = ps.splits[split]
    names = ps.tag_names
    print(f"Per-tag ROC-AUC on {len(test)} {split} tracks (regressions fit on {len(pool)} tracks' subsets), mean over {cfg.tag_repeats} labelled subsets "
          f"(checkpoint {fingerprint(checkpoint)[:8]}); positives in the scored tracks in brackets.\n")
    for size in cfg.tag_sizes:
        subsets = [sorted(np.random.default_rng(r).choice(pool, size, replace=False)) for r in range(cfg.tag_repeats)]
        table = {}
        for rep in SHOWN:
            feats = pooled(reps[rep])
            table[rep] = np.nanmean([per_tag_auc(feats, ps.tags, s, test, cfg.tag_c) for s in subsets], axis=0)
        print(f"### {size} labelled tracks\n")
        print("| tag (test positives) | " + " | ".join(SHOWN) + " |")
        print("|---" * (len(SHOWN) + 1) + "|")
        for k, name in enumerate(names):
            print(f"| {name} ({int(ps.tags[test, k].sum())}) | " + " | ".join(f"{table[r][k]:.3f}" for r in SHOWN) + " |")
        print("| **macro** | " + " | ".join(f"**{np.nanmean(table[r]):.3f}**" for r in SHOWN) + " |\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_CHECKPOINT), *sys.argv[2:3])
