"""Continue a ``booster pretrain`` stage-1 run under changed settings and log held-out reconstruction.

Usage (repository root)::

    python docs/results/hqvae-diagnosis/continue_stage1.py RUN_DIR OUT.jsonl --minutes 15 \
        [--kl-weight 0.01] [--variance-to 0.1 --variance-minutes 10]

Loads ``RUN_DIR/train/stage1-last.ckpt`` (weights and Adam state), trains on the same mixes
(``build/pretrain/corpus``, ``*/*/mix.flac``) with new crops, one thread, and every 5 minutes
recalibrates the latent norms as ``booster pretrain`` does and measures the codec on the held-out
renders of ``booster bench model`` (``/tmp/held``; rendered if missing), plus how well the
codes fit the latents there (``latent_fit``). ``--variance-to V`` caps every stochastic level's variance by
a bound that falls geometrically from its value at the start to ``V`` over ``--variance-minutes``.
``--restart-threshold`` sets the stochastic levels' dead-code restart threshold (hits per step, EMA).
``--straight-through`` adds VQ's straight-through gradient to the latents.
``--codebook-decay D`` moves the stochastic codebooks by soft EM (EMA with decay ``D`` of the
posterior-weighted latent means) instead of by gradient.
``--decoder-only`` freezes the encoder and the codebooks and trains the rest (the top-down decoder
stages and the latent-to-feature convolutions) on the deterministic (argmax) codes, with a fresh
Adam at ``--lr``: does the decoder lose precision by learning on posterior *samples*?
``RUN_DIR`` may also be a VQ-baseline run (``--kl-weight`` and ``--variance-to`` do not apply).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from benchmarks.model import codec_metrics, render_held_out
from booster.audio import load_audio
from booster.checkpoint import read_config
from booster.pretrain import RandomCrops, load_clips, recalibrate_latent_norms
from hqvae.foundation import FoundationConfig, FoundationModel
from hqvae.lightning import gumbel_temperature
from hqvae.quantize import StochasticQuantizer


@torch.no_grad()
def latent_fit(codec, clips: list[torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per level (coarse to fine), means over held-out frames of: the squared distance from the latent
    to its nearest code (``quant_error``; a latent has squared norm 32) and, for stochastic levels,
    the posterior's largest probability (``max_prob``)."""
    sums = {}
    for clip in clips:
        for level, (z, idx) in codec.encode_latents(clip[None]).items():
            q = codec.quantizers[codec._stage(level)]
            acc = sums.setdefault(level, {"frames": 0, "quant_error": 0.0, "max_prob": 0.0})
            acc["frames"] += idx.numel()
            acc["quant_error"] += float((z - q.embed(idx)).pow(2).sum())
            if isinstance(q, StochasticQuantizer):
                acc["max_prob"] += float(q.logits(z).softmax(-1).amax(-1).sum())
    return {lv: {k: v / acc["frames"] for k, v in acc.items() if k != "frames"} for lv, acc in sums.items()}


def held_out_clips() -> list[torch.Tensor]:
    """The mono held-out mixes of ``booster bench model`` (``/tmp/held``; rendered if missing)."""
    held = Path("/tmp/held")
    if not held.exists():
        render_held_out(held)
    return [torch.from_numpy(load_audio(f, 22050, mono=True)[0][0]) for f in sorted(held.rglob("mix.flac"))]


def load_stage1(model: FoundationModel, checkpoint: Path) -> dict:
    """Load a ``booster pretrain`` stage-1 Lightning checkpoint's weights into ``model``; returns the checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()}, strict=False)
    return state


def straight_through(sample):
    """Wrap a stochastic quantizer's training sampler so the decoder's gradient also reaches the
    latent directly (identity, as VQ's straight-through estimator), on top of the Gumbel-softmax path."""
    def wrapped(z, temperature):
        quantized, indices, kl, tail_mass = sample(z, temperature)
        return quantized + (z - z.detach()), indices, kl, tail_mass
    return wrapped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--kl-weight", type=float, default=None)
    ap.add_argument("--variance-to", type=float, default=None)
    ap.add_argument("--variance-minutes", type=float, default=10.0)
    ap.add_argument("--restart-threshold", type=float, default=None)
    ap.add_argument("--straight-through", action="store_true")
    ap.add_argument("--decoder-only", action="store_true")
    ap.add_argument("--codebook-decay", type=float, default=None)
    ap.add_argument("--lr", type=float, default=5e-4)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = FoundationConfig.from_dict(read_config(args.run)["model"])
    if args.kl_weight is not None:
        cfg.codec.kl_weight = args.kl_weight
    if args.codebook_decay is not None:
        cfg.codec.codebook_decay = args.codebook_decay
    model = FoundationModel(cfg)
    state = load_stage1(model, Path(args.run) / "train" / "stage1-last.ckpt")
    codec = model.codec.train()
    if args.decoder_only:
        for part in (codec.encoders, codec.to_latent, codec.quantizers):
            part.requires_grad_(False)
        opt = torch.optim.Adam([p for p in codec.parameters() if p.requires_grad], args.lr)
    else:
        opt = torch.optim.Adam(codec.parameters(), 1e-3)
        opt.load_state_dict(state["optimizer_states"][0])
    step0 = int(state["global_step"])
    clips, _ = load_clips(sorted(Path("build/pretrain/corpus").glob("*/*/mix.flac")), 22050)
    crops = iter(DataLoader(RandomCrops(clips, 16512, seed=0, start=step0 * 8), batch_size=8))
    held_clips = held_out_clips()
    stochastic = [q for q in codec.quantizers if isinstance(q, StochasticQuantizer)]
    if args.restart_threshold is not None:
        for q in stochastic:
            q.restart_threshold = args.restart_threshold
    if args.straight_through:
        for q in stochastic:
            q._sample = straight_through(q._sample)
    start_log_var = [float(q.log_var.detach()) for q in stochastic]

    def evaluate(step: int, elapsed: float) -> dict:
        probe = copy.deepcopy(model)
        recalibrate_latent_norms(probe, DataLoader(RandomCrops(clips, 16512, seed=0), batch_size=8), 60)
        m = codec_metrics(probe, held_clips)
        row = {"kl_weight": cfg.codec.kl_weight, "variance_to": args.variance_to, "restart_threshold": args.restart_threshold,
               "straight_through": args.straight_through,
               "decoder_only": args.decoder_only,
               "codebook_decay": args.codebook_decay, "minutes": round(elapsed / 60, 1),
               "step": step, "mr_stft": m["mr_stft"],
               "perplexity": {lv: m["levels"][lv]["perplexity"] for lv in codec.levels}, "si_sdr_db": m["si_sdr_db"],
               "per_clip_si_sdr_db": m["per_clip"]["si_sdr_db"],
               "variance": {lv: float(codec.quantizers[codec._stage(lv)].variance.detach()) for lv in codec.levels
                            if isinstance(codec.quantizers[codec._stage(lv)], StochasticQuantizer)},
               "latent_fit": latent_fit(probe.codec, held_clips)}
        print(json.dumps({k: v for k, v in row.items() if k != "per_clip_si_sdr_db"}), flush=True)
        return row

    rows, t0, step, next_eval = [evaluate(step0, 0.0)], time.time(), step0, 300.0
    while (elapsed := time.time() - t0) < args.minutes * 60:
        if args.decoder_only:
            codec.quantizers.eval()  # argmax codes, no restarts
        loss = codec(next(crops), gumbel_temperature(step)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        opt.step()
        if args.variance_to is not None:  # geometric fall of the cap from the start value to the target
            frac = min(1.0, elapsed / (args.variance_minutes * 60))
            with torch.no_grad():
                for q, lv0 in zip(stochastic, start_log_var, strict=True):
                    q.log_var.clamp_(max=(1 - frac) * lv0 + frac * math.log(args.variance_to))
        step += 1
        if elapsed > next_eval:
            next_eval += 300
            rows.append(evaluate(step, elapsed))
    rows.append(evaluate(step, time.time() - t0))
    torch.save(codec.state_dict(), Path(args.out).with_suffix(".pt"))
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
