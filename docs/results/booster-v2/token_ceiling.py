"""Diagnosis: how much pitch can a model read from the top and mid tokens at all?

The stage-2 priors read only the codec's tokens. If a small bidirectional network trained
directly for multi-pitch on the probe set's training tracks cannot read pitch from the top + mid
code vectors, no prior objective will put it into the layer features: the codec must change. The
same network on the semitone spectrogram is the reference, trained for the same minutes.

    python docs/results/booster-v2/token_ceiling.py [--minutes 4] [--model CKPT] [--causal-vs-bidirectional]

``--causal-vs-bidirectional`` (round 5) reads the tokens twice, with causal convolutions (left padding
only) and bidirectional ones, instead of tokens vs the semitone spectrogram.

Uses the probe set's labels (evaluation data): this measures the tokens, it trains nothing shipped.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from booster import Booster
from booster.align import resample_frames
from downstream.probe.linear import best_threshold, frame_f1
from downstream.probe.probe_set import load_probe_set


class ConvProbe(nn.Module):
    """(batch, frames, in) at any rate -> (batch, n_out_frames, 88) logits; bidirectional context."""

    def __init__(self, dim_in: int, width: int = 128, layers: int = 4, kernel: int = 9, causal: bool = False):
        super().__init__()
        self.pad = (kernel - 1, 0) if causal else (kernel // 2, kernel // 2)
        convs = [nn.Conv1d(dim_in, width, kernel)]
        convs += [nn.Conv1d(width, width, kernel) for _ in range(layers - 1)]
        self.convs = nn.ModuleList(convs)
        self.norm = nn.LayerNorm(dim_in)
        self.head = nn.Linear(width, 88)

    def forward(self, x: torch.Tensor, n_out: int) -> torch.Tensor:
        h = self.norm(x).transpose(1, 2)
        for conv in self.convs:
            h = F.gelu(conv(F.pad(h, self.pad)))
        return self.head(resample_frames(h.transpose(1, 2), n_out))


def fit(xs: list[np.ndarray], ys: list[np.ndarray], train: list[int], val: list[int], test: list[int],
        minutes: float, seed: int = 0, causal: bool = False) -> dict:
    torch.manual_seed(seed)
    model = ConvProbe(xs[0].shape[1], causal=causal)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    t0, steps = time.time(), 0
    while time.time() - t0 < 60 * minutes:
        batch = rng.choice(train, 8)
        x = torch.from_numpy(np.stack([xs[i] for i in batch]))
        y = torch.from_numpy(np.stack([ys[i] for i in batch]))
        loss = F.binary_cross_entropy_with_logits(model(x, y.shape[1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    model.eval()
    with torch.no_grad():
        def predict(idx):
            return np.concatenate([torch.sigmoid(model(torch.from_numpy(xs[i])[None], len(ys[i])))[0].numpy()
                                   for i in idx])
        thr = best_threshold(predict(val), np.concatenate([ys[i] for i in val]))
        f1 = frame_f1(predict(test), np.concatenate([ys[i] for i in test]), thr)
    return {"f1": f1, "threshold": thr, "steps": steps, "final_loss": float(loss)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default="build/token_ceiling.json")
    ap.add_argument("--causal-vs-bidirectional", action="store_true")
    args = ap.parse_args()
    ps = load_probe_set("build/probe/set")
    n = min(ps.frames)  # equal lengths, so clips batch without padding
    ys = [y[:n] for y in ps.frame_labels["pitch"]]
    booster = Booster.from_pretrained(args.model)
    outs = booster.extract_batch(ps.audio, ps.sample_rate, features=["top.embedding", "mid.embedding"])
    top = [o.features["top.embedding"].numpy() for o in outs]
    t_top = min(min(len(t) for t in top), min(len(o.features["mid.embedding"]) for o in outs) // 4)
    # mid frames folded onto the top grid: 4 consecutive mid code vectors per top frame
    tokens = [np.concatenate([t[:t_top], o.features["mid.embedding"].numpy()[:4 * t_top].reshape(t_top, -1)], axis=1)
              for t, o in zip(top, outs, strict=True)]
    semitone = [s[:n] for s in ps.spectrograms["semitone"]]
    res = {}
    runs = ((("top+mid code vectors, causal", tokens, True), ("top+mid code vectors", tokens, False))
            if args.causal_vs_bidirectional else
            (("top+mid code vectors", tokens, False), ("semitone spectrogram", semitone, False)))
    for name, xs, causal in runs:
        res[name] = fit(xs, ys, ps.splits["train"], ps.splits["val"], ps.splits["test"], args.minutes, causal=causal)
        print(name, res[name], flush=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
