"""How far a store cached on a GPU is from one cached on the CPU (same files, model and settings): per feature,
the share of equal tokens and the largest difference relative to the feature's own scale.

    python docs/results/caching/gpu_compare.py CPU_STORE GPU_STORE
"""

from __future__ import annotations

import sys

import numpy as np

from feature_store.store import FeatureStore


def main(cpu_path: str, gpu_path: str) -> None:
    cpu, gpu = FeatureStore.open(cpu_path), FeatureStore.open(gpu_path)
    tracks = cpu.tracks()
    if tracks != gpu.tracks():
        raise SystemExit(f"the stores hold different tracks: {tracks} vs {gpu.tracks()}")
    for name in cpu.feature_names():
        a = np.concatenate([cpu.read(t, name) for t in tracks])
        b = np.concatenate([gpu.read(t, name) for t in tracks])
        if a.shape != b.shape:
            print(f"{name}: shapes differ {a.shape} vs {b.shape}")
        elif a.dtype.kind in "iu":
            print(f"{name}: {100 * np.mean(a == b):.3f} % of {a.size} tokens equal")
        else:
            scale = float(np.abs(a).mean()) or 1.0
            print(f"{name}: max |diff| {np.abs(a - b).max():.4g}, mean |diff| {np.abs(a - b).mean():.3g} "
                  f"(mean |value| {scale:.3g}: {100 * np.abs(a - b).mean() / scale:.2f} %)")


if __name__ == "__main__":
    main(*sys.argv[1:])
