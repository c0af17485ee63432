"""Tag probes with the old fixed C = 1 against C chosen by cross-validation inside each labelled subset
(select_c, `booster probe --tag-c cv`), on the same cached features, subsets and test tracks.

    .venv/bin/python docs/results/booster-v2/probe-c/compare_c.py [CHECKPOINT] > OUT.txt

Run after `booster probe` has filled build/probe (the probe set and the feature caches).
"""
import sys
from pathlib import Path

import numpy as np

from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint
from booster.stats import paired_ci95
from downstream.inputs import random_checkpoint
from downstream.probe import ProbeConfig, load_probe_set
from downstream.probe.representations import booster_frames
from downstream.probe.run import representations, tag_probes

ckpt = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CHECKPOINT
work = Path("build/probe")
ps = load_probe_set(work / "set", None, lambda m: None)
control = random_checkpoint(ckpt, work / f"random-{fingerprint(ckpt)[:12]}-seed0", 0)
feats = {label: booster_frames(ps, c, None, work / "cache") for label, c in (("booster", ckpt), ("random", control))}
reps = representations(ps, feats["booster"], feats["random"], per_feature=True)
fixed, chosen = ProbeConfig(tag_c=1.0), ProbeConfig(tag_c=None)
rows = {}
print(f"checkpoint {fingerprint(ckpt)[:8]}, {len(ps.ids)} tracks, test {len(ps.splits['test'])}, grid {chosen.tag_c_grid}")
print(f"{'representation':28s} {'dim':>5s} | {'@24 C=1':>8s} {'@24 CV':>8s} {'C chosen':>22s} | {'@120 C=1':>8s} {'@120 CV':>8s}")
for name, x in reps.items():
    a, _ = tag_probes(ps, x, fixed)
    b, cs = tag_probes(ps, x, chosen)
    rows[name] = (a, b)
    print(f"{name:28s} {x[0].shape[1]:5d} | {np.mean(a['24']):8.3f} {np.mean(b['24']):8.3f} {str(cs['24']):>22s} | "
          f"{np.mean(a['120']):8.3f} {np.mean(b['120']):8.3f}", flush=True)
print("\npaired over the 5 subsets (mean +- 95% half-width), tags@24:")
for a, b in (("booster:all", "logmel"), ("booster:all", "random:all"), ("booster:mid.layer4", "logmel")):
    for k, label in ((0, "C=1"), (1, "CV")):
        d = np.array(rows[a][k]["24"]) - np.array(rows[b][k]["24"])
        m, h = paired_ci95(d)
        print(f"  {a} - {b} [{label}]: {m:+.3f} +- {h:.3f}")
