"""Session 36: drift of bfloat16 priors (Booster(precision="bfloat16")) against float32, on real recordings.

The first 60 s of 6 recordings from Debian's game-music packages (build/v2/music/audio, fetched by
`booster data fetch-music`; every 30th file of the sorted list), default features (top/mid layers 2 and 4),
12 s windows as `booster cache` runs them. Tokens, and the relative L2 / largest difference of each feature.
    .venv/bin/python docs/results/caching/s36/bf16_drift.py > docs/results/caching/s36/bf16_drift.log
"""
import numpy as np
import soundfile as sf
import soxr
import torch

from booster.audio import find_audio
from booster.extract import Booster

torch.set_num_threads(1)
f32, bf16 = Booster.from_pretrained(), Booster.from_pretrained(precision="bfloat16")
feats = ["top.layer2", "top.layer4", "mid.layer2", "mid.layer4"]
files = sorted(find_audio("build/v2/music/audio"))[::30]
worst = {n: 0.0 for n in feats}
for path in files:
    info = sf.info(str(path))
    x, sr = sf.read(str(path), dtype="float32", frames=int(info.samplerate * 60), always_2d=True)
    x = soxr.resample(x.mean(1), sr, f32.sample_rate).astype(np.float32)
    a, b = f32.extract(x, f32.sample_rate, features=feats), bf16.extract(x, f32.sample_rate, features=feats)
    equal = {lv: float((a.tokens[lv] == b.tokens[lv]).float().mean()) for lv in a.tokens}
    parts = []
    for n in feats:
        ref, got = a.features[n], b.features[n]
        rel = float((got - ref).norm() / ref.norm())
        worst[n] = max(worst[n], rel)
        parts.append(f"{n} {100 * rel:.2f}% (max |diff| {float((got - ref).abs().max()):.3f}, "
                     f"mean |x| {float(ref.abs().mean()):.2f})")
    print(f"{path.name}: tokens equal {equal}; relative L2: " + "; ".join(parts), flush=True)
print("worst relative L2 per feature:", {n: f"{100 * v:.2f}%" for n, v in worst.items()})
