"""Feature extraction on a GPU against the CPU: speed of all features on real recordings, and how far tokens
and features move. Run on the device tool's machine (H200), with the Ogg files in gpu_data/audio; what was
run there, as one inline script per setting (the log: gpu_extract.log).

    python docs/results/caching/gpu_extract.py [--tf32]     (--tf32: cuDNN's default TF32 left on)
"""

from __future__ import annotations

import glob
import sys
import time

import numpy as np
import torch

from booster.audio import load_audio
from booster.extract import Booster


def main(tf32: bool = False) -> None:
    torch.set_num_threads(2)
    files = sorted(glob.glob("gpu_data/audio/*.ogg"))
    gpu, cpu = Booster.from_pretrained(device="cuda"), Booster.from_pretrained()
    if tf32:  # (a Booster on CUDA turns TF32 off: booster.extract.exact_fp32_on)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    waves = [np.asarray(load_audio(f, gpu.sample_rate)[0]) for f in files]
    seconds = sum(w.shape[-1] for w in waves) / gpu.sample_rate
    gpu.extract(waves[0][..., :gpu.sample_rate * 20], gpu.sample_rate)  # warm-up
    torch.cuda.synchronize()
    t = time.perf_counter()
    outs = [gpu.extract(w, gpu.sample_rate) for w in waves]
    torch.cuda.synchronize()
    wall = time.perf_counter() - t
    print(f"cuda{' TF32' if tf32 else ' fp32'}: {seconds:.1f} s of audio, {seconds / wall:.1f}x realtime (all features)")
    t = time.perf_counter()
    ref = cpu.extract(waves[0], cpu.sample_rate)  # the CPU baseline, first file, 2 threads, same machine
    print(f"cpu (2 threads): {waves[0].shape[-1] / cpu.sample_rate / (time.perf_counter() - t):.1f}x realtime")
    for level in ref.tokens:
        print(f"tokens {level}: {np.mean(np.asarray(outs[0].tokens[level]) == np.asarray(ref.tokens[level])):.4f} equal")
    for name in ref.features:
        x, y = np.asarray(outs[0].features[name], np.float64), np.asarray(ref.features[name], np.float64)
        print(f"{name}: mean |diff| / mean |value| {np.abs(x - y).mean() / np.abs(y).mean():.5f}")


if __name__ == "__main__":
    main("--tf32" in sys.argv[1:])
