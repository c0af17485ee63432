"""Diagnosis: how much of the frame (multi-pitch) labels a *linear* map reads from each input of the
transcription experiment, trained on the same 24-track subsets as the CRNN cells. Standardised inputs
(statistics of the training subset), per-key logistic regression by Adam on binary cross-entropy, the
threshold chosen on the validation split, frame F1 on the test split (per track, then the mean: as the
task's ``frame_f1``).

    python docs/results/transcription-multi/linear_frames.py RUN_DIR [--seeds 5] [--fraction 0.1] [--head]

``--head`` adds the readout head's probabilities (``readout.head``, 88 note + 88 onset), computed from the
run's stored ``readout.layer6`` (float16 at bfloat16 precision) at 172 fps, then averaged to 50 fps like
every booster feature of the run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from downstream.experiment import load_arrays, subset


def frame_f1(y: np.ndarray, p: np.ndarray) -> float:
    tp = float((y * p).sum())
    return 2 * tp / max(float(y.sum() + p.sum()), 1.0)


def fit(x: np.ndarray, y: np.ndarray, steps: int = 1500, seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    lin = torch.nn.Linear(x.shape[1], y.shape[1])
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(lin(xt), yt).backward()
        opt.step()
    return lin


def probe_once(arrays: dict, keys: list[str], train: list[str], val: list[str], test: list[str],
               seed: int) -> tuple[float, float]:
    """Test frame F1 (mean over tracks) and the validation-chosen threshold of a linear map from the
    concatenated ``keys`` inputs, fitted on ``train``."""
    def stack(ids: list[str]) -> np.ndarray:
        return np.concatenate([np.concatenate([arrays[k][t] for k in keys], axis=1) for t in ids])

    xtr, ytr = stack(train), np.concatenate([arrays["frames"][t] for t in train])
    mean, std = xtr.mean(0), xtr.std(0) + 1e-5
    lin = fit(((xtr - mean) / std).astype(np.float32), ytr, seed=seed)

    @torch.no_grad()
    def prob(ids: list[str]) -> np.ndarray:
        return torch.sigmoid(lin(torch.from_numpy(((stack(ids) - mean) / std).astype(np.float32)))).numpy()

    pv, yv = prob(val), np.concatenate([arrays["frames"][t] for t in val])
    thr = float(max(np.arange(0.1, 0.95, 0.05), key=lambda th: frame_f1(yv, pv >= th)))
    return float(np.mean([frame_f1(arrays["frames"][t], prob([t]) >= thr) for t in test])), thr


def readout_head(run: Path, tracks: list[str], frames: dict[str, int]) -> dict[str, np.ndarray]:
    """``readout.head`` of each track at the task's 50 fps, from the run's stored ``readout.layer6``."""
    from booster import Booster
    from booster.align import align
    from downstream.inputs import FPS
    from feature_store.store import FeatureStore

    b = Booster.from_pretrained(json.loads((run / "inputs.json").read_text())["model_path"])
    store = FeatureStore.open(run / "features-trained.zarr")
    r, out = b.model.readout, {}
    for t in tracks:
        x = torch.from_numpy(store.read(t, "readout.layer6").astype(np.float32))
        with torch.no_grad():
            head = r.posteriors([x]).numpy()  # the head reads the last state only
        out[t] = align(head, store.specs["readout.layer6"].frame_rate, FPS, n_frames=frames[t]).astype(np.float32)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--head", action="store_true", help="also the readout head's probabilities")
    args = ap.parse_args()
    torch.set_num_threads(1)
    meta = json.loads((args.run / "inputs.json").read_text())
    arrays = load_arrays(args.run)
    split = {s: sorted(t for t, v in meta["splits"].items() if v == s) for s in ("train", "validation", "test")}
    inputs = {"spectrogram": ["spec"], "booster": ["boost"], "spectrogram+booster": ["spec", "boost"],
              "random booster": ["boost_random"], "capacity projection": ["boost_capacity"]}
    if args.head:
        arrays["head"] = readout_head(args.run, sorted(arrays["spec"]), {t: len(x) for t, x in arrays["spec"].items()})
        inputs = {"spectrogram": ["spec"], "readout head": ["head"], "spectrogram+readout head": ["spec", "head"],
                  "spectrogram+booster+readout head": ["spec", "boost", "head"]}
    results: dict[str, list[float]] = {k: [] for k in inputs}
    for seed in range(args.seeds):
        train = subset(split["train"], args.fraction, seed)
        for name, keys in inputs.items():
            f1, thr = probe_once(arrays, keys, train, split["validation"], split["test"], seed)
            results[name].append(f1)
            print(f"seed {seed} {name}: frame F1 {f1:.3f} (threshold {thr:.2f})", flush=True)
    from booster.stats import paired_ci95

    base = next(iter(results.values()))  # paired against the first input, over seeds
    for name, v in results.items():
        m, h = paired_ci95(np.array(v) - np.array(base))
        print(f"{name}: frame F1 {np.mean(v):.3f}; minus {next(iter(results))}: {m:+.3f} +- {h:.3f}")
    print(json.dumps({k: {"mean": float(np.mean(v)), "per_seed": v} for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
