"""Session 36's first look: bf16 autocast for the priors, and for priors + codec, on 60 s of real music
(build/v2/music/audio/ufoai-music/00114-PsymongN3.ogg), 2 threads. Its speeds were taken while two training cells
shared the CPU and are not reported (the benchmarks are: `booster bench`); its token and feature agreement is
(bf16_codec_probe.log, copied from the terminal).
    .venv/bin/python docs/results/caching/s36/bf16_codec_probe.py build/v2/music/audio/ufoai-music/00114-PsymongN3.ogg
"""
import sys
import time

import numpy as np
import soundfile as sf
import soxr
import torch

from booster.extract import Booster
from hqvae.prior import PriorStream

torch.set_num_threads(2)
b = Booster.from_pretrained()
x, sr = sf.read(sys.argv[1], dtype="float32", frames=44100 * 60, always_2d=True)
x = soxr.resample(x.mean(1), sr, b.sample_rate).astype(np.float32)
feats = ["top.layer2", "top.layer4", "mid.layer2", "mid.layer4"]
stream_call, codec_encode = PriorStream.__call__, b.model.codec.encode


def priors_in_bf16(enabled: bool) -> None:
    def call(self, *args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            return [s.float() for s in stream_call(self, *args, **kwargs)]
    PriorStream.__call__ = call


def codec_in_bf16(enabled: bool) -> None:
    def encode(*args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            return codec_encode(*args, **kwargs)
    b.model.codec.encode = encode


res = {}
for mode in ["fp32", "prior-bf16", "fp32", "prior-bf16", "all-bf16"]:
    priors_in_bf16(mode != "fp32")
    codec_in_bf16(mode == "all-bf16")
    b.extract(x[: b.sample_rate * 5], b.sample_rate, features=feats)
    t = time.perf_counter()
    out = b.extract(x, b.sample_rate, features=feats)
    print(mode, "x realtime", round(len(x) / b.sample_rate / (time.perf_counter() - t), 1), flush=True)
    res.setdefault(mode, out)
ref = res["fp32"]
for mode in ["prior-bf16", "all-bf16"]:
    o = res[mode]
    for lv in ref.tokens:
        print(mode, lv, "tokens equal", float((o.tokens[lv] == ref.tokens[lv]).float().mean()))
    for f in feats:
        a, c = ref.features[f].float(), o.features[f].float()
        print(mode, f, "rel L2", round(float((a - c).norm() / a.norm()), 5), "max abs",
              round(float((a - c).abs().max()), 4), "scale", round(float(a.abs().mean()), 3))
