"""Round 6 diagnosis: can the diagnosis network of ``token_ceiling.py`` learn Basic Pitch's notes from the
token corpus (not the probe set's labels), and does what it learns carry over to the probe set?

Trains ``ConvProbe`` (4 convolutions, kernel 9, width 128, bidirectional) on the top + mid code vectors of
the token corpus against the hard Basic Pitch notes (88 note channels) for ``--minutes``, then scores its
sigmoid outputs on the probe set's test tracks against the true pitch labels (threshold from the
validation tracks), and the same network trained on the probe set's own training tracks for comparison.

    python docs/results/booster-v2/bp_from_tokens.py --minutes 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))
from token_ceiling import ConvProbe  # noqa: E402

from booster import Booster  # noqa: E402
from booster.token_corpus import TokenCorpus, TokenCrops  # noqa: E402
from downstream.probe.linear import best_threshold, frame_f1  # noqa: E402
from downstream.probe.probe_set import load_probe_set  # noqa: E402


def codes(model, top: torch.Tensor, mid: torch.Tensor) -> torch.Tensor:
    """(batch, top frames, 32 + 4 * 32): top code vector and the 4 mid code vectors of each top frame."""
    with torch.no_grad():
        t, m = model.codec.embed("top", top), model.codec.embed("mid", mid)
    n = t.shape[1]
    return torch.cat([t, m[:, :4 * n].reshape(m.shape[0], n, -1)], dim=-1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--out", default="build/s18/bp_from_tokens.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    booster = Booster.from_pretrained()
    model = booster.model
    crops = TokenCrops(TokenCorpus.load("build/v2/tokens"), frames=1024, seed=5)
    net = ConvProbe(160)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t0, curve = time.time(), []
    for step, batch in enumerate(DataLoader(crops, batch_size=8)):
        if time.time() - t0 > 60 * args.minutes:
            break
        x = codes(model, batch["tokens"]["top"], batch["tokens"]["mid"])
        y = batch["teachers"]["basic-pitch-notes"][:, :, :88]
        loss = F.binary_cross_entropy_with_logits(net(x, y.shape[1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(float(loss))
        if step % 50 == 0:
            print(f"step {step} bce(last 50) {np.mean(curve[-50:]):.4f}", flush=True)
    net.eval()
    ps = load_probe_set("build/probe/set", None, lambda *a: None)
    outs = booster.extract_batch(ps.audio, ps.sample_rate, features=["top.embedding", "mid.embedding"])
    preds = []
    with torch.no_grad():
        for o, n in zip(outs, ps.frames, strict=True):
            t = len(o.features["top.embedding"])
            mid = o.features["mid.embedding"]
            mid = torch.cat([mid, mid[-1:].expand(4 * t - len(mid), -1)]) if len(mid) < 4 * t else mid
            x = torch.cat([o.features["top.embedding"], mid[:4 * t].reshape(t, -1)], dim=-1)[None]
            preds.append(torch.sigmoid(net(x, n))[0].numpy())
    y = ps.frame_labels["pitch"]
    val, test = ps.splits["val"], ps.splits["test"]
    thr = best_threshold(np.concatenate([preds[i] for i in val]), np.concatenate([y[i] for i in val]))
    f1 = frame_f1(np.concatenate([preds[i] for i in test]), np.concatenate([y[i] for i in test]), thr)
    res = {"steps": step, "bce_last_100": float(np.mean(curve[-100:])), "probe_test_pitch_f1": f1, "threshold": thr}
    print(res, flush=True)
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
