"""Where default-feature extraction spends its time, module by module, and what the window length costs.

Usage: .venv/bin/python docs/results/caching/profile_default.py AUDIO [SECONDS]   (log: profile_default.log)

Bundled model, 2 threads, the `default` preset's layer features (tokens of all levels come with them), SECONDS
(default 60) of AUDIO from 3 s in, mono at the model's rate. Each module is timed by wrapping its call (wall clock,
summed over the windows); `codec.encode` holds the encoder stages, the quantizers' nearest-code search and the
decoder stages of the top-down path (the finer levels' tokens depend on it). Then whole extraction at 12 s and 16 s
windows, alternating, three runs each.
"""

from __future__ import annotations

import collections
import statistics
import sys
import time

import torch

from booster import Booster
from booster.audio import load_audio
from feature_store.cache import preset_features
from hqvae.prior import PriorStream

torch.set_num_threads(2)
booster = Booster.from_pretrained()
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
audio, _ = load_audio(sys.argv[1], booster.sample_rate, mono=True)
sr = booster.sample_rate
audio = audio[:, 3 * sr:3 * sr + int(seconds * sr)]
features = [f for f in preset_features(booster, "default") if not f.endswith(".tokens")]
spent: collections.Counter[str] = collections.Counter()
order: list[str] = []  # keys in the order they were wrapped: parents before their parts


def timed(obj, method: str, key: str) -> None:
    inner = getattr(obj, method)
    order.append(key)

    def call(*args, **kwargs):
        t = time.perf_counter()
        out = inner(*args, **kwargs)
        spent[key] += time.perf_counter() - t
        return out

    setattr(obj, method, call)


def run() -> float:
    t = time.perf_counter()
    booster.extract(audio, sr, features=features)
    return time.perf_counter() - t


with torch.inference_mode():
    booster.extract(audio[:, :5 * sr], sr, features=features)  # warm-up
    speed = {12.0: [], 16.0: []}
    for _ in range(3):
        for w in speed:
            booster.window_s = w
            speed[w].append(seconds / run())
    for w, xs in speed.items():
        print(f"window {w:.0f} s: {statistics.median(xs):.1f}x realtime (median of {xs and [round(x, 1) for x in xs]})")
    booster.window_s = 12.0
    codec = booster.model.codec
    timed(codec, "encode", "codec.encode (all below)")
    for i, m in enumerate(codec.encoders):
        timed(m, "forward", f"  encoder stage {i}")
    for i, m in enumerate(codec.quantizers):
        timed(m, "nearest", f"  quantizer {i} nearest code")
    for i, m in enumerate(codec.decoders):
        timed(m, "forward", f"  decoder stage {i} (top-down path)")
    # the priors run as PriorStreams (one per level and extraction): time their calls, by the prior they serve
    levels = {id(booster.model.priors[lv]): lv for lv in ("top", "mid")}
    stream_call = PriorStream.__call__

    def timed_stream(self, *args, **kwargs):
        t = time.perf_counter()
        out = stream_call(self, *args, **kwargs)
        spent[f"{levels[id(self.prior)]} prior"] += time.perf_counter() - t
        return out

    PriorStream.__call__ = timed_stream
    order += ["top prior", "mid prior"]
    total = run()
print(f"\nwindow 12 s, {seconds:.0f} s of audio: {total:.2f} s = {seconds / total:.1f}x realtime")
print(f"{'module':36s} {'seconds':>8s} {'share':>6s} {'x realtime':>10s}")
for key in (k for k in order if spent[k]):  # decoder stage 0 (to the waveform) never runs for tokens
    s = spent[key]
    print(f"{key:36s} {s:8.3f} {s / total:6.1%} {seconds / s:10.0f}")
