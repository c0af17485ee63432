"""A/B of the nearest-code search on the finest level of a 10 s window (27 560 frames, 256 codes, 32 dims), 2 threads:
the old formula (full squared distances, then argmin) against the fused, chunked one; log: nearest_bench.log."""
import time

import torch

from hqvae.quantize import StochasticQuantizer

torch.set_num_threads(2)
q = StochasticQuantizer(32, 256).eval()
z = torch.randn(1, 27560, 32)


def old():
    return q.squared_distances(z).argmin(-1)


def new():
    return q.nearest(z)


def new_big():  # one addmm over all frames
    return q.nearest(z, chunk=1 << 30)


with torch.inference_mode():
    for f in (old, new, new_big) * 3:
        t = time.perf_counter()
        for _ in range(20):
            f()
        print(f.__name__, round((time.perf_counter() - t) / 20 * 1000, 2), "ms")
