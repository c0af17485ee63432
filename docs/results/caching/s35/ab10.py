"""Default features and tokens of `booster bench extract`'s 10 s held-out render (one window), 2 threads, best of 5.
Run per tree, 3 times interleaved: PYTHONPATH=/tmp/oldtree .venv/bin/python ab10.py old; .venv/bin/python ab10.py new
(log: ab10.log, copied from the terminal)."""
import sys
import time

import torch

torch.set_num_threads(2)
from benchmarks.pipeline import held_out_mix  # noqa: E402
from booster.extract import Booster  # noqa: E402

audio, sr = held_out_mix(10.0)
b = Booster.from_pretrained()
feats = ["top.layer2", "top.layer4", "mid.layer2", "mid.layer4"]
with torch.inference_mode():
    b.extract(audio, sr, features=feats)
    res = {}
    for name, f in (("tokens", []), ("default", feats)):
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            b.extract(audio, sr, features=f)
            ts.append(time.perf_counter() - t)
        res[name] = round(10 / min(ts), 1)
print(sys.argv[1], res)
