import sys, time, math, json, torch, numpy as np
import torch.nn.functional as F
sys.path.insert(0, ".")
variant, minutes, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
import hqvae.quantize as Q
from hqvae.model import HQVAE, HQVAEConfig
from hqvae.losses import si_sdr, multi_resolution_stft
if variant == "sq_hard":
    orig = F.gumbel_softmax
    Q.F.gumbel_softmax = lambda logits, tau=1.0, hard=False, dim=-1: orig(logits, tau=tau, hard=True, dim=dim)
torch.manual_seed(0)
cfg = HQVAEConfig()
if variant.startswith("vq"): cfg.quantizer = "vq"
if variant == "sq_stft025": cfg.stft_weight = 0.25
if variant == "sq_nodrop": cfg.level_dropout = 0.0
import os
dev = os.environ.get("DEV", "cuda")
torch.set_num_threads(1)
model = HQVAE(cfg).to(dev)
train = torch.from_numpy(np.load("build/gpu/train_stems.npy" if variant.endswith("_stems") else "build/gpu/train.npy").astype(np.float32) / 32767).to(dev)
held = torch.from_numpy(np.load("build/gpu/held.npy")).to(dev)
opt = torch.optim.Adam(model.parameters(), 1e-3)
crop, bs = 16512, 8
g = torch.Generator(device=dev).manual_seed(0)
t0, step, nxt = time.time(), 0, float(os.environ.get("FIRST", 30))
log = open(f"{out}/{variant}.log", "w")
while time.time() - t0 < minutes * 60:
    idx = torch.randint(0, len(train) - crop, (bs,), device=dev, generator=g)
    x = torch.stack([train[i:i + crop] for i in idx.tolist()])
    temp = max(0.5, math.exp(-3e-4 * max(0, step - 100)))
    o = model(x, temp, quantize=step >= 100)
    opt.zero_grad(); o.loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); step += 1
    if time.time() - t0 > nxt:
        nxt += 45
        model.eval()
        with torch.no_grad():
            y = model.decode(model.encode(held))[:, :held.shape[1]]
            s = si_sdr(y, held).mean().item(); m = multi_resolution_stft(y, held).item()
            u = model(held, quantize=False).reconstruction
            su = si_sdr(u, held).mean().item()
        model.train()
        var = {k: round(float(v), 3) for k, v in o.logs.items() if k.endswith("variance")}
        print(json.dumps({"t": round(time.time() - t0), "step": step, "si_sdr": round(s, 2), "si_sdr_unq": round(su, 2),
                          "mrstft": round(m, 3), **var}), file=log, flush=True)
