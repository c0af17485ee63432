"""Session 35's A/B on long audio: default features (top/mid layers 2 and 4) of the first 60 s of a real recording
(gpu_data/audio/00114-PsymongN3.ogg, Ogg 44.1 kHz stereo, from a Debian game-music package), 2 threads, 5 windows.
Run once per tree, interleaved (ab_extract.sh): the old tree through PYTHONPATH. Saves the features and tokens so the
two trees' outputs can be compared (they were bit-identical)."""
import sys
import time

import numpy as np
import soundfile as sf
import soxr
import torch

torch.set_num_threads(2)
from booster.extract import Booster  # noqa: E402

b = Booster.from_pretrained()
x, sr = sf.read("gpu_data/audio/00114-PsymongN3.ogg", dtype="float32", frames=44100 * 60)
x = soxr.resample(x.mean(1), sr, b.sample_rate).astype(np.float32)
feats = ["top.layer2", "top.layer4", "mid.layer2", "mid.layer4"]
b.extract(x[:b.sample_rate * 5], b.sample_rate, features=feats)  # warm-up
t = time.perf_counter()
out = b.extract(x, b.sample_rate, features=feats)
dt = time.perf_counter() - t
print(sys.argv[1], "seconds", round(dt, 2), "x realtime", round(60 / dt, 1))
np.savez(sys.argv[1], **{k: v.numpy() for k, v in out.features.items()},
         **{"tok_" + k: v.numpy() for k, v in out.tokens.items()})
