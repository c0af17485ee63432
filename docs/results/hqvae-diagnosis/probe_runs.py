"""Held-out reconstruction of ``booster pretrain`` runs *while they train*, from their rolling
stage-1 Lightning checkpoints, paired over the clips of ``booster bench model``.

Usage (repository root)::

    python docs/results/hqvae-diagnosis/probe_runs.py OUT.jsonl RUN_DIR:CONFIG_DIR [RUN_DIR:CONFIG_DIR ...]

``CONFIG_DIR`` is a checkpoint folder with the run's ``config.json`` (its ``--init`` folder, for a run
that has not written its own yet). Each run's latent norms are recalibrated on its own training
crops as ``booster pretrain`` does at the end, then every run is measured on the same held-out
mixes (``/tmp/held``; rendered if missing); one JSON row per run is appended to ``OUT.jsonl``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from continue_stage1 import held_out_clips, load_stage1  # this folder's sibling script
from torch.utils.data import DataLoader

from benchmarks.model import codec_metrics
from booster.checkpoint import read_config
from booster.pretrain import RandomCrops, load_clips, recalibrate_latent_norms
from booster.stats import paired_reconstruction
from hqvae.foundation import FoundationConfig, FoundationModel


def main() -> None:
    out, runs = Path(sys.argv[1]), [arg.split(":") for arg in sys.argv[2:]]
    torch.set_num_threads(1)
    held_clips = held_out_clips()
    clips, _ = load_clips(sorted(Path("build/pretrain/corpus").glob("*/*/mix.flac")), 22050)
    metrics = {}
    for run, config in runs:
        model = FoundationModel(FoundationConfig.from_dict(read_config(config)["model"]))
        state = load_stage1(model, Path(run) / "train" / "stage1-last.ckpt")
        recalibrate_latent_norms(model, DataLoader(RandomCrops(clips, 16512, seed=0), batch_size=8), 60)
        m = codec_metrics(model, held_clips)
        timer = next((v for k, v in state.get("callbacks", {}).items() if k.startswith("Timer")), {})
        metrics[run] = m
        row = {"run": run, "step": int(state["global_step"]), "time": time.strftime("%H:%M"),
               "minutes": round(timer.get("time_elapsed", {}).get("train", 0) / 60, 1),
               "si_sdr_db": m["si_sdr_db"], "mr_stft": m["mr_stft"],
               "perplexity": {lv: v["perplexity"] for lv, v in m["levels"].items()}}
        if len(metrics) == 2:
            row["paired_vs_first"] = paired_reconstruction(m, next(iter(metrics.values())))
        print(json.dumps(row), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
