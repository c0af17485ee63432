"""What distilling Basic Pitch could give at best: its own posteriors, and the semitone spectrogram with
them, through the probe's frame-level linear layer on the held-out probe set.

    python docs/results/booster-v2/probe_ref_combo.py
"""

from __future__ import annotations

import numpy as np
import torch

from downstream.probe import load_probe_set
from downstream.probe.representations import teacher_frames
from downstream.probe.run import ProbeConfig, frame_probes


def main() -> None:
    torch.set_num_threads(1)
    ps = load_probe_set("build/probe/set", None, print)
    bp = teacher_frames(ps, ["basic-pitch"], "build/probe/cache")["basic-pitch"]
    semi = ps.spectrograms["semitone"]
    both = [np.concatenate([a, b], axis=1) for a, b in zip(semi, bp, strict=True)]
    for name, x in (("ref:basic-pitch", bp), ("semitone+basic-pitch", both)):
        r = frame_probes(ps, x, ProbeConfig())
        print(name, {k: round(v["f1"], 3) for k, v in r.items()}, flush=True)


if __name__ == "__main__":
    main()
