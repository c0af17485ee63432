"""Round 6: a bidirectional readout stack distilled from Basic Pitch, over the frozen bundled priors.

Trains :class:`hqvae.readout.Readout` on the token corpus (cached hard Basic Pitch notes, never the
probe set's labels) for ``--minutes`` on the CPU, then probes its layer states on the held-out probe set
with the same frame probes as ``booster probe``:

    python docs/results/booster-v2/readout_experiment.py --minutes 20 --out build/s18/readout

The two rows of round 6 made with it ran the readout as it was at commit 341aba7 (3 attention layers, dim
192, over the code vectors and prior layers 2 and 4) and at e7af123 (2 residual convolutions, then 2
attention layers, same inputs); ``hqvae/readout.py`` has since changed (plain convolutions over the code
vectors), so rerunning this script trains the current readout, with ``source_layers`` (2, 4).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from booster import Booster
from booster.align import align
from booster.token_corpus import TokenCorpus, TokenCrops
from downstream.probe import load_probe_set
from downstream.probe.representations import FPS, booster_frames
from downstream.probe.run import ProbeConfig, frame_probes
from hqvae.readout import Readout, ReadoutConfig

TEACHER = "basic-pitch-notes"


def readout_inputs(model, top_tok: torch.Tensor, mid_tok: torch.Tensor, layers: tuple[int, ...]):
    """Code vectors and prior states of the two coarsest levels, frozen."""
    with torch.no_grad():
        top_in, below = [model.codec.embed("top", top_tok)], [model.codec.embed("mid", mid_tok)]
        if layers:
            ts = model.priors["top"].hidden_states(top_tok)
            ms = model.priors["mid"].hidden_states(mid_tok, top_tok)
            top_in += [ts[j] for j in layers]
            below += [ms[j] for j in layers]
    return top_in, below


def train(args, model, cfg: ReadoutConfig, out: Path) -> Readout:
    torch.manual_seed(0)
    readout = Readout(cfg, model.config.prior.dim, model.config.codec.latent_dim, 4)
    corpus = TokenCorpus.load(args.tokens)
    crops = TokenCrops(corpus, frames=args.frames, seed=11)
    loader = DataLoader(crops, batch_size=args.batch, num_workers=0)
    opt = torch.optim.AdamW(readout.parameters(), lr=args.lr, weight_decay=0.01)
    log = open(out / "train.log", "w")
    t0, budget = time.time(), 60 * args.minutes
    for step, batch in enumerate(loader):
        elapsed = time.time() - t0
        if elapsed > budget:
            break
        lr = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget)))
        for g in opt.param_groups:
            g["lr"] = lr
        top_in, below = readout_inputs(model, batch["tokens"]["top"], batch["tokens"]["mid"], cfg.source_layers)
        loss = readout.loss(readout.hidden_states(top_in, below), batch["teachers"][TEACHER])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(readout.parameters(), 1.0)
        opt.step()
        if step % 20 == 0:
            print(f"step {step} t {elapsed:.0f}s lr {lr:.2e} bce {loss.item():.4f}", file=log, flush=True)
    print(f"done {step} steps in {time.time() - t0:.0f}s", file=log, flush=True)
    torch.save(readout.state_dict(), out / "readout.pt")
    return readout


def probe(args, booster: Booster, readout: Readout, out: Path) -> dict:
    ps = load_probe_set("build/probe/set", None, print)
    names = ["top.embedding", "mid.embedding"] + [f"{lv}.layer{j}" for lv in ("top", "mid")
                                                  for j in readout.cfg.source_layers]
    feats: dict[str, list[np.ndarray]] = {}
    readout.eval()
    for k in range(0, len(ps.audio), 8):
        res = booster.extract_batch(ps.audio[k:k + 8], ps.sample_rate, features=names, batch_size=8)
        for i, r in enumerate(res, start=k):
            top_in = [r.features["top.embedding"][None]] + [r.features[f"top.layer{j}"][None]
                                                           for j in readout.cfg.source_layers]
            below = [r.features["mid.embedding"][None]] + [r.features[f"mid.layer{j}"][None]
                                                          for j in readout.cfg.source_layers]
            with torch.no_grad():
                states = readout.hidden_states(top_in, below)
                head = torch.sigmoid(readout.logits(states))[0, :, :88]
            rate = r.frame_rates["top.embedding"]
            for j in range(1, len(states)):
                feats.setdefault(f"readout.layer{j}", []).append(
                    align(states[j][0].numpy(), rate, FPS, n_frames=ps.frames[i]).astype(np.float32))
            feats.setdefault("readout.head", []).append(align(head.numpy(), rate, FPS, n_frames=ps.frames[i]).astype(np.float32))
    base = booster_frames(ps, booster.checkpoint, None, "build/probe/cache")

    def cat(*parts):
        return [np.concatenate(t, axis=1) for t in zip(*parts, strict=True)]

    layers = [feats[f"readout.layer{j}"] for j in range(1, readout.depth + 1)]
    reps = {f"readout:layer{j}": feats[f"readout.layer{j}"] for j in range(1, readout.depth + 1)}
    reps["readout:head (distilled posteriors)"] = feats["readout.head"]
    reps["readout:all"] = cat(*layers)
    reps["booster:all (bundled, for reference)"] = cat(*base.values())
    reps["booster:all+readout"] = cat(*base.values(), *layers)
    reps["semitone"] = ps.spectrograms["semitone"]
    reps["semitone+readout"] = cat(ps.spectrograms["semitone"], *layers)
    reps["semitone+booster:all+readout"] = cat(ps.spectrograms["semitone"], *base.values(), *layers)
    results = {}
    for name, x in reps.items():
        r = frame_probes(ps, x, ProbeConfig())
        results[name] = {t: {k: v for k, v in d.items()} for t, d in r.items()}
        print(name, {t: f"{d['f1']:.3f} (val {d['val_f1']:.3f})" for t, d in r.items()}, flush=True)
    (out / "probe.json").write_text(json.dumps(results))
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", default="build/v2/tokens")
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--frames", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--codes-only", action="store_true")
    ap.add_argument("--probe-only", action="store_true")
    ap.add_argument("--out", default="build/s18/readout")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    booster = Booster.from_pretrained()
    model = booster.model
    cfg = ReadoutConfig(source_layers=() if args.codes_only else (2, 4))
    if args.probe_only:
        readout = Readout(cfg, model.config.prior.dim, model.config.codec.latent_dim, 4)
        readout.load_state_dict(torch.load(out / "readout.pt", weights_only=True))
    else:
        readout = train(args, model, cfg, out)
    probe(args, booster, readout, out)


if __name__ == "__main__":
    main()
