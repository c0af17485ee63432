"""Why the GPU stage-2 run made only ~1.6 steps/s per arm: time one training step of the top and mid
priors (batch 4 x 6 s crops of the v2 token corpus, 2 threads) with the strided attention of commit
d729014 (an ``as_strided`` view of all taps: slow backward) and with today's (one slice per tap).

    python docs/results/booster-v2/strided_backward_bench.py [CORPUS=build/v2/tokens]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import hqvae.prior as prior_mod
import hqvae.sparse_attention as new_sparse
from booster.checkpoint import load_checkpoint
from booster.token_corpus import TokenCorpus, TokenCrops

OLD_COMMIT = "d729014"


def main(corpus: str) -> None:
    old_src = subprocess.run(["git", "show", f"{OLD_COMMIT}:hqvae/sparse_attention.py"], check=True,
                             capture_output=True, text=True).stdout
    tmp = Path(tempfile.mkdtemp())
    (tmp / "old_sparse.py").write_text(old_src)
    sys.path.insert(0, str(tmp))
    import old_sparse

    torch.set_num_threads(2)
    model = load_checkpoint("booster/weights/default").train()
    crops = TokenCrops(TokenCorpus.load(corpus), 1033, seed=0)
    items = [crops[i] for i in range(4)]
    top = torch.stack([it["tokens"]["top"] for it in items])
    mid = torch.stack([it["tokens"]["mid"] for it in items])

    def step():
        (model.priors["top"].nll(top) + model.priors["mid"].nll(mid, top)).backward()

    best = {}
    for name, module in (("as_strided view (old)", old_sparse), ("one slice per tap (new)", new_sparse)):
        prior_mod.sparse_attention = module.sparse_attention
        step()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        best[name] = min(times)
        print(f"{name}: {best[name]:.3f} s per training step")
    print(f"speed-up: {best['as_strided view (old)'] / best['one slice per tap (new)']:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/v2/tokens")
