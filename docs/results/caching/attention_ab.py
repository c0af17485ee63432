"""A/B in one process: default-feature extraction (tokens + top/mid prior layers) with the strided attention
of eb50410 (one elementwise pass per tap) against the banded block version now in hqvae.sparse_attention.

    python docs/results/caching/attention_ab.py OLD_SPARSE_ATTENTION.py AUDIO_FILE
(OLD_SPARSE_ATTENTION.py: `git show eb50410:hqvae/sparse_attention.py > old.py`)
"""

import importlib.util
import sys
import time

import torch

import hqvae.sparse_attention as new
from booster import Booster
from booster.audio import load_audio

torch.set_num_threads(2)
spec = importlib.util.spec_from_file_location("old_sparse", sys.argv[1])
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
wave, _ = load_audio(sys.argv[2], 22050, mono=True)
wave = wave[:, :22050 * 60]
seconds = wave.shape[1] / 22050
b = Booster.from_pretrained()
default = [n for n in b.coarse_feature_names() if not n.endswith(".embedding")]
current = new.strided_attention
results = {}
for _rep in range(3):
    for name, fn in (("old (per-tap passes)", old.strided_attention), ("new (banded blocks)", current)):
        new.strided_attention = fn
        b.extract(wave[:, :22050 * 5], 22050, default)
        t0 = time.perf_counter()
        b.extract(wave, 22050, default)
        results.setdefault(name, []).append(seconds / (time.perf_counter() - t0))
for name, xs in results.items():
    print(f"{name}: best {max(xs):.1f}x realtime (runs {', '.join(f'{x:.1f}' for x in xs)})")
o, n = max(results["old (per-tap passes)"]), max(results["new (banded blocks)"])
print(f"default features on {seconds:.0f} s of {sys.argv[2]}: new / old = {n / o:.2f}x")
