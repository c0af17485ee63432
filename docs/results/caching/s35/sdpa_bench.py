"""The priors' block attention (a mid-level 12 s window with its past: 293 blocks of 32 queries over 64 keys, 4 heads
of 32 dims, 1 thread) as written (two matmuls, a masked softmax) against torch's scaled_dot_product_attention with
the same boolean mask. Log: sdpa_bench.log (copied from the terminal;
the machine was busy with other jobs then, so only the ratio within the run means anything)."""
import time

import torch
import torch.nn.functional as F

from hqvae.sparse_attention import _allowed, _block_attention, _neighbour_blocks

torch.set_num_threads(1)
n, w, d = 9388 // 32, 32, 32
qb, kb, vb = (torch.randn(1, 4, n, w, d) for _ in range(3))
allowed = _allowed(n, w, 2 * w, "cpu")


def manual():
    return _block_attention(qb, kb, vb, allowed)


def sdpa():
    kn, vn = _neighbour_blocks(kb, False), _neighbour_blocks(vb, False)
    return F.scaled_dot_product_attention(qb, kn, vn, attn_mask=allowed)


print("max difference", (manual() - sdpa()).abs().max())
for f in (manual, sdpa, manual, sdpa):
    t = time.perf_counter()
    for _ in range(10):
        f()
    print(f.__name__, (time.perf_counter() - t) / 10 * 1000, "ms")
