"""Continue a ``booster pretrain`` stage-1 run with another KL weight and log held-out reconstruction.

Usage (repository root): ``python docs/results/hqvae-diagnosis/continue_kl.py RUN_DIR KL_WEIGHT MINUTES OUT.jsonl``.
Loads ``RUN_DIR/train/stage1-last.ckpt`` (weights and Adam state), trains on the same mixes
(``build/pretrain/corpus``, ``*/*/mix.flac``) with new crops, one thread, and every 5 minutes
recalibrates the latent norms as ``booster pretrain`` does and measures the codec on the held-out
renders of ``booster bench model`` (``/tmp/held``; rendered if missing).
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from booster.audio import load_audio
from booster.bench import codec_metrics, render_held_out
from booster.pretrain import RandomCrops, load_clips, recalibrate_latent_norms
from hqvae.foundation import CONFIGS, FoundationModel
from hqvae.lightning import gumbel_temperature


def main(run: str, kl_weight: float, minutes: float, out: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = CONFIGS["tiny"]()
    cfg.codec.kl_weight = kl_weight
    model = FoundationModel(cfg)
    state = torch.load(Path(run) / "train" / "stage1-last.ckpt", map_location="cpu", weights_only=True)
    model.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()}, strict=False)
    codec = model.codec.train()
    opt = torch.optim.Adam(codec.parameters(), 1e-3)
    opt.load_state_dict(state["optimizer_states"][0])
    step0 = int(state["global_step"])
    clips, _ = load_clips(sorted(Path("build/pretrain/corpus").glob("*/*/mix.flac")), 22050)
    crops = iter(DataLoader(RandomCrops(clips, 16512, seed=0, start=step0 * 8), batch_size=8))
    held = Path("/tmp/held")
    if not held.exists():
        render_held_out(held)
    held_clips = [torch.from_numpy(load_audio(f, 22050, mono=True)[0][0]) for f in sorted(held.rglob("mix.flac"))]

    def evaluate(step: int, elapsed: float) -> dict:
        probe = copy.deepcopy(model)
        recalibrate_latent_norms(probe, DataLoader(RandomCrops(clips, 16512, seed=0), batch_size=8), 60)
        m = codec_metrics(probe, held_clips)
        row = {"kl_weight": kl_weight, "minutes": round(elapsed / 60, 1), "step": step, "mr_stft": m["mr_stft"],
               "si_sdr_db": m["si_sdr_db"], "per_clip_si_sdr_db": m["per_clip"]["si_sdr_db"],
               "variance": {lv: float(q.variance.detach()) for lv, q in zip(reversed(codec.levels), codec.quantizers, strict=True)}}
        print(json.dumps({k: v for k, v in row.items() if k != "per_clip_si_sdr_db"}), flush=True)
        return row

    rows, t0, step, next_eval = [evaluate(step0, 0.0)], time.time(), step0, 300.0
    while time.time() - t0 < minutes * 60:
        x = next(crops)
        loss = codec(x, gumbel_temperature(step)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        opt.step()
        step += 1
        if time.time() - t0 > next_eval:
            next_eval += 300
            rows.append(evaluate(step, time.time() - t0))
    rows.append(evaluate(step, time.time() - t0))
    Path(out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
