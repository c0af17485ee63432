"""Stage-1 codec training as ``booster pretrain`` does it, in a plain loop, logging held-out reconstruction.

Usage (repository root): ``python docs/results/hqvae-diagnosis/diag.py VARIANT MINUTES OUT_DIR`` with
``train.npy`` / ``train_stems.npy`` (int16, 22.05 kHz mono) and ``held.npy`` (float32, (clips, samples))
under ``build/gpu/``. VARIANT: ``sq`` | ``vq`` | ``sq_stems`` | ``vq_stems``. ``DEV=cpu`` runs on the CPU.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch

from hqvae.lightning import gumbel_temperature
from hqvae.losses import multi_resolution_stft, si_sdr
from hqvae.model import HQVAE, HQVAEConfig


def main(variant: str, minutes: float, out: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    dev = os.environ.get("DEV", "cuda")
    cfg = HQVAEConfig()
    if variant.startswith("vq"):
        cfg.quantizer = "vq"
    # second round (after the diagnosis): the ELBO's KL weight and the starting variance
    cfg.kl_weight = float(os.environ.get("KL_WEIGHT", cfg.kl_weight))
    cfg.init_log_var = float(os.environ.get("INIT_LOG_VAR", cfg.init_log_var))
    cfg.hard_sample = os.environ.get("HARD", "1") == "1"
    min_temperature = float(os.environ.get("MIN_TEMPERATURE", 0.5))
    model = HQVAE(cfg).to(dev)
    data = "build/gpu/train_stems.npy" if variant.endswith("_stems") else "build/gpu/train.npy"
    train = torch.from_numpy(np.load(data).astype(np.float32) / 32767).to(dev)
    held = torch.from_numpy(np.load("build/gpu/held.npy")).to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    crop, batch = 16512, 8
    gen = torch.Generator(device=dev).manual_seed(0)
    t0, step, next_eval = time.time(), 0, float(os.environ.get("FIRST", 30))
    with open(f"{out}/{variant}{os.environ.get('TAG', '')}.log", "w") as log:
        while time.time() - t0 < minutes * 60:
            starts = torch.randint(0, len(train) - crop, (batch,), device=dev, generator=gen).tolist()
            x = torch.stack([train[i:i + crop] for i in starts])
            o = model(x, gumbel_temperature(step, minimum=min_temperature), quantize=step >= 100)
            opt.zero_grad()
            o.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if time.time() - t0 > next_eval:
                next_eval += 45
                model.eval()
                with torch.no_grad():
                    y = model.decode(model.encode(held))[:, :held.shape[1]]
                    unquantized = model(held, quantize=False).reconstruction
                    row = {"t": round(time.time() - t0), "step": step,
                           "si_sdr": round(si_sdr(y, held).mean().item(), 2),
                           "si_sdr_unq": round(si_sdr(unquantized, held).mean().item(), 2),
                           "mrstft": round(multi_resolution_stft(y, held).item(), 3)}
                model.train()
                row.update({k: round(float(v), 3) for k, v in o.logs.items() if k.endswith(("variance", "tail_mass"))})
                print(json.dumps(row), file=log, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
