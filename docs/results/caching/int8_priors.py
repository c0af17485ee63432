"""int8 dynamic quantisation of the priors' Linear layers (``torch.ao.quantization.quantize_dynamic``): the speed
of the default features on 40 s of real music (2 threads, best of 2, float32 and int8 in the same run) and how far
the features move. Run: .venv/bin/python docs/results/caching/int8_priors.py (log: int8_priors.log)."""

from __future__ import annotations

import copy
import glob
import time

import soundfile as sf
import torch

from booster import Booster
from feature_store.cache import preset_features

SECONDS = 40


def timed(booster: Booster, audio, sr: int, names: list[str], reps: int = 2):
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = booster.extract(audio, sr, names)
        best = min(best, time.perf_counter() - t)
    return out, best


def main() -> None:
    torch.set_num_threads(2)
    b = Booster.from_pretrained()
    names = [n for n in preset_features(b, "default") if not n.endswith(".tokens")]
    path = sorted(glob.glob("build/music/audio/**/*.ogg", recursive=True))[3]
    x, sr = sf.read(path, dtype="float32", frames=sr_frames(path))
    print(path, x.shape, sr)
    ref, t32 = timed(b, x.T, sr, names)
    print("fp32 x realtime", SECONDS / t32)
    q = copy.deepcopy(b)
    for level in list(q.model.priors.keys()):
        q.model.priors[level] = torch.ao.quantization.quantize_dynamic(q.model.priors[level], {torch.nn.Linear},
                                                                       dtype=torch.qint8)
    out, t8 = timed(q, x.T, sr, names)
    print("int8 priors x realtime", SECONDS / t8, "speedup", t32 / t8)
    for n in names:
        a, c = ref.features[n].float(), out.features[n].float()
        cos = torch.nn.functional.cosine_similarity(a.flatten(), c.flatten(), 0).item()
        print(n, f"rel err {((a - c).norm() / a.norm()).item():.4f}", f"cos {cos:.5f}")


def sr_frames(path: str) -> int:
    return sf.info(path).samplerate * SECONDS


if __name__ == "__main__":
    main()
