"""Separation throughput: the plain CPU-sized HTDemucs vs the same model boosted, features included."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.pipeline import _best_time
from booster.align import align
from booster.fusion import inject
from downstream.tasks.separation import bottleneck_channels, small_htdemucs


@torch.inference_mode()
def bench_separation(mix: np.ndarray, sr: int, model_path=None,
                     features: tuple[str, ...] = ("top.layer2", "mid.layer2")) -> dict:
    """x realtime of separating a stereo ``mix`` ``(2, samples)`` at 22.05 kHz in 2 s segments: plain
    HTDemucs vs boosted (booster extraction of the mix + the injected model), one run."""
    from booster.extract import Booster

    torch.manual_seed(0)
    seconds = mix.shape[-1] / sr
    seg = 2 * sr
    x = torch.from_numpy(mix[:, : mix.shape[-1] // seg * seg].astype(np.float32))[None]
    plain = small_htdemucs(2.0).eval()

    def separate(model, feats=None, handle=None):
        for a in range(0, x.shape[-1], seg):
            if handle is not None:
                f0 = int(a / sr * 50)
                handle.set(feats[:, f0:f0 + 100])
            model(x[..., a:a + seg])

    booster = Booster.from_pretrained(model_path)
    boosted = small_htdemucs(2.0).eval()
    dim = sum(booster.model.config.prior.dim for _ in features)
    handle = inject(boosted, "crosstransformer", dim, channels=bottleneck_channels(), at="input")

    def boosted_run():
        out = booster.extract(mix, sr, features=list(features))
        feats = np.concatenate([align(out.features[n].numpy(), out.frame_rates[n], 50.0) for n in features], axis=1)
        separate(boosted, torch.from_numpy(feats)[None], handle)

    t_plain = _best_time(lambda: separate(plain))
    t_boost = _best_time(boosted_run)
    return {"audio_seconds": seconds, "plain_x_realtime": seconds / t_plain, "boosted_x_realtime": seconds / t_boost,
            "boosted_vs_plain": t_plain / t_boost, "threads": torch.get_num_threads()}
