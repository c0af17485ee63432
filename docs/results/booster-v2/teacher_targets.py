"""Compute (and cache) teacher targets for every mix of a corpus once, before the ablation arms
train on them (so no arm spends its minutes on teachers, and two arms never compute the same file).

    python docs/results/booster-v2/teacher_targets.py CORPUS CACHE TEACHER [TEACHER ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from booster.audio import find_audio
from booster.pretrain import load_clips
from booster.teachers import TEACHER_RATE, teacher_targets

corpus, cache, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
files = find_audio(corpus, "*/*/mix.flac")
kept: list[Path] = []
clips, _ = load_clips(files, TEACHER_RATE, kept)
t0 = time.time()
teacher_targets(kept, clips, names, cache)
hours = sum(len(c) for c in clips) / TEACHER_RATE / 3600
print(f"{names}: {len(kept)} files, {hours:.2f} h in {time.time() - t0:.0f} s")
