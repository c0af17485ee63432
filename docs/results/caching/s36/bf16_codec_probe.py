"""Session 36's first look: bf16 autocast for the priors, and for priors + codec, on 60 s of real music
(build/v2/music/audio/ufoai-music/00114-PsymongN3.ogg), 2 threads. Its speeds were taken while two training cells
shared the CPU and are not reported (the benchmarks are: `booster bench`); its token and feature agreement is
(bf16_codec_probe.log, copied from the terminal).
    .venv/bin/python docs/results/caching/s36/bf16_codec_probe.py build/v2/music/audio/ufoai-music/00114-PsymongN3.ogg"""
import sys, time, torch, numpy as np, soundfile as sf, soxr
from booster.extract import Booster
from hqvae.prior import PriorStream, TokenPrior
torch.set_num_threads(2)
b = Booster.from_pretrained()
path = sys.argv[1]
x, sr = sf.read(path, dtype="float32", frames=44100 * 60, always_2d=True)
x = soxr.resample(x.mean(1), sr, b.sample_rate).astype(np.float32)
feats = ["top.layer2", "top.layer4", "mid.layer2", "mid.layer4"]
orig_call, orig_hs = PriorStream.__call__, TokenPrior.hidden_states
def patched(enabled):
    def call(self, *a, **k):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            return [s.float() for s in orig_call(self, *a, **k)]
    PriorStream.__call__ = call
codec_enc = b.model.codec.encode
def codec_bf16(enabled):
    def enc(*a, **k):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            return codec_enc(*a, **k)
    b.model.codec.encode = enc
res = {}
for mode in ["fp32", "prior-bf16", "fp32", "prior-bf16", "all-bf16"]:
    patched(mode != "fp32"); codec_bf16(mode == "all-bf16")
    b.extract(x[: b.sample_rate * 5], b.sample_rate, features=feats)
    t = time.perf_counter(); out = b.extract(x, b.sample_rate, features=feats); dt = time.perf_counter() - t
    print(mode, "x realtime", round(len(x) / b.sample_rate / dt, 1), flush=True)
    res.setdefault(mode, out)
ref = res["fp32"]
for mode in ["prior-bf16", "all-bf16"]:
    o = res[mode]
    for lv in ref.tokens:
        print(mode, lv, "tokens equal", float((o.tokens[lv] == ref.tokens[lv]).float().mean()))
    for f in feats:
        a, c = ref.features[f].float(), o.features[f].float()
        print(mode, f, "rel L2", round(float((a - c).norm() / a.norm()), 5), "max abs", round(float((a - c).abs().max()), 4),
              "scale", round(float(a.abs().mean()), 3))
