import numpy as np, torch
torch.set_num_threads(1)
from downstream.probe import load_probe_set
from downstream.probe.representations import teacher_frames
from downstream.probe.run import ProbeConfig, frame_probes
ps = load_probe_set("build/probe/set", None, print)
bp = teacher_frames(ps, ["basic-pitch"], "build/probe/cache")["basic-pitch"]
semi = ps.spectrograms["semitone"]
for name, x in (("ref:bp", bp), ("semitone+bp", [np.concatenate([a, b], 1) for a, b in zip(semi, bp)])):
    r = frame_probes(ps, x, ProbeConfig())
    print(name, {k: round(v["f1"], 3) for k, v in r.items()}, flush=True)
