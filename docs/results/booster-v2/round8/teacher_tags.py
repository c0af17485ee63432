"""How much of the mode and tempo tags do the key and tempo teachers themselves give a pooled linear probe? The
ceiling of distilling them: their own outputs on the probe set (resampled to the probe's frame rate), through the
probe's clip-tag regressions, per tag, beside log-mel.

Run: .venv/bin/python docs/results/booster-v2/round8/teacher_tags.py [test|val] > teacher_tags-test.md
"""

from __future__ import annotations

import sys

import numpy as np

from downstream.probe.linear import per_tag_auc, pooled
from downstream.probe.probe_set import load_probe_set
from downstream.probe.representations import teacher_frames
from downstream.probe.run import ProbeConfig

WORK = "build/probe"

TEACHERS = ["key", "tempo"]
SHOWN_TAGS = ("mode:major", "tempo:fast", "tempo:medium", "tempo:slow")


def main(split: str = "test") -> None:
    cfg = ProbeConfig()
    ps = load_probe_set(f"{WORK}/set", None, lambda s: None)
    refs = teacher_frames(ps, TEACHERS, f"{WORK}/cache")
    reps = {"logmel": ps.spectrograms["logmel"], **{f"ref:{n}": refs[n] for n in TEACHERS},
            "ref:key+tempo": [np.concatenate(p, axis=1) for p in zip(refs["key"], refs["tempo"], strict=True)]}
    pool = ps.splits["train"] + (ps.splits["val"] if split == "test" else [])
    scored = ps.splits[split]
    print(f"Teachers' own outputs, pooled, per-tag ROC-AUC on {len(scored)} {split} tracks, mean over "
          f"{cfg.tag_repeats} labelled subsets.\n")
    for size in cfg.tag_sizes:
        subsets = [sorted(np.random.default_rng(r).choice(pool, size, replace=False)) for r in range(cfg.tag_repeats)]
        print(f"### {size} labelled tracks\n\n| tag | " + " | ".join(reps) + " |\n" + "|---" * (len(reps) + 1) + "|")
        table = {name: np.nanmean([per_tag_auc(pooled(x), ps.tags, s, scored, cfg.tag_c) for s in subsets], axis=0)
                 for name, x in reps.items()}
        for tag in SHOWN_TAGS:
            k = ps.tag_names.index(tag)
            print(f"| {tag} | " + " | ".join(f"{table[n][k]:.3f}" for n in reps) + " |")
        print()


if __name__ == "__main__":
    main(*sys.argv[1:2])
