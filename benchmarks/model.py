"""Benchmarks. Every figure is measured in the same run as the baseline it is compared with.

``model``: the bundled HQ-VAE checkpoint against the bundled VQ baseline (same size, bitrate
and training minutes) on freshly rendered held-out audio: codebook usage and perplexity per
level, reconstruction multi-resolution STFT distance and SI-SDR; stage-2 held-out NLL against
the tokens' unigram entropy; sparse vs dense attention time and peak memory at T and 4T.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from booster.checkpoint import BASELINE_CHECKPOINT, DEFAULT_CHECKPOINT, load_checkpoint
from booster.stats import paired_reconstruction, paired_sentences
from hqvae.losses import multi_resolution_stft, si_sdr

HELD_OUT_SEED = 9999  # the bundled model was trained on seeds 1-4


def render_held_out(out: Path, seconds: float = 10.0) -> list[Path]:
    from downstream.data.render import RenderConfig, render_corpus
    from downstream.data.synth import fluidsynth_available

    synths = ["basic"] + (["fluidsynth"] if fluidsynth_available()[0] else [])
    for i, synth in enumerate(synths):
        render_corpus(out / f"procedural-{synth}", RenderConfig(6, seconds, "procedural", synth, HELD_OUT_SEED + i))
        render_corpus(out / f"music21-{synth}", RenderConfig(2, seconds, "music21", synth, HELD_OUT_SEED + i))
    return sorted(out.rglob("mix.flac"))


@torch.inference_mode()
def codec_metrics(model, clips: list[torch.Tensor]) -> dict:
    """Usage/perplexity per level over all clips' tokens, mean MR-STFT distance and SI-SDR."""
    codec = model.codec.eval()
    k = codec.config.codebook_size
    counts = {lv: torch.zeros(k) for lv in codec.levels}
    stft, sdr = [], []
    tokens_all = []
    for x in clips:
        xp = codec.pad(x[None])
        tokens = codec.encode(xp)
        tokens_all.append(tokens)
        for lv, t in tokens.items():
            counts[lv] += torch.bincount(t.flatten(), minlength=k).float()
        y = codec.decode(tokens)[:, : x.shape[0]]
        stft.append(float(multi_resolution_stft(y, x[None])))
        sdr.append(float(si_sdr(y, x[None])[0]))
    levels = {}
    for lv, c in counts.items():
        p = c / c.sum()
        entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
        levels[lv] = {"usage_pct": 100.0 * float((c > 0).float().mean()), "perplexity": math.exp(entropy),
                      "unigram_entropy_nats": entropy}
    return {"levels": levels, "mr_stft": float(np.mean(stft)), "si_sdr_db": float(np.mean(sdr)),
            "per_clip": {"mr_stft": stft, "si_sdr_db": sdr}, "tokens": tokens_all}


@torch.inference_mode()
def prior_metrics(model, tokens_all: list[dict], unigram: dict) -> dict:
    out = {}
    for i, lv in enumerate(model.levels):
        total, n = 0.0, 0
        for tokens in tokens_all:
            cond = tokens[model.levels[i - 1]] if i > 0 else None
            t = tokens[lv]
            total += float(model.priors[lv].nll(t, cond)) * t.numel()
            n += t.numel()
        nll = total / n
        out[lv] = {"nll_nats": nll, "unigram_entropy_nats": unigram[lv],
                   "reduction_pct": 100.0 * (1 - nll / unigram[lv]),
                   # a bidirectional prior's NLL is of masked tokens given both sides: not a next-token figure
                   "objective": "next-token" if model.priors[lv].cfg.causal else "masked-token"}
    return out


# Peak memory: Linux resets the process's RSS high-water mark on "5" > /proc/self/clear_refs,
# so VmHWM after one call minus VmRSS before it is what that call needed at its peak.
_ATTN_PROBE = """
import sys, time, torch
from hqvae.sparse_attention import sparse_attention
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
torch.set_num_threads(1)
pattern, t, dim, heads, block, stride, taps = sys.argv[1], *map(int, sys.argv[2:])
q, k, v = (torch.randn(1, heads, t, dim // heads) for _ in range(3))
with torch.inference_mode():
    sparse_attention(q, k, v, pattern, block, stride, taps)
    before = status('VmRSS')
    open('/proc/self/clear_refs', 'w').write('5')
    sparse_attention(q, k, v, pattern, block, stride, taps)
    peak = max(0, status('VmHWM') - before)
    times = []
    for _ in range(5):
        t0 = time.perf_counter(); sparse_attention(q, k, v, pattern, block, stride, taps)
        times.append(time.perf_counter() - t0)
print(sorted(times)[2], peak)
"""


# glibc keeps freed heap pages mapped and hands them out again, so RSS then misses a call's
# allocations (strided attention at T read 0.0 to 5.9 MiB over three runs); serving every block
# above 64 KiB by mmap, unmapped on free, makes the peak measurement repeat to 0.1 MiB.
_MALLOC_RETURNS_MEMORY = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def attention_costs(prior_cfg, t: int) -> dict:
    """Median time and peak extra RSS of one attention call, per pattern, at ``t`` and ``4t``."""
    res = {}
    for pattern in ("local", "strided", "dense"):
        for length in (t, 4 * t):
            args = [pattern, str(length), str(prior_cfg.dim), str(prior_cfg.heads), str(prior_cfg.block),
                    str(prior_cfg.stride), str(prior_cfg.taps)]
            proc = subprocess.run([sys.executable, "-c", _ATTN_PROBE, *args], capture_output=True, text=True,
                                  check=True, env={**os.environ, **_MALLOC_RETURNS_MEMORY})
            seconds, peak = proc.stdout.split()
            res[(pattern, length)] = {"seconds": float(seconds), "peak_bytes": int(peak)}
    return res


def bench_model(checkpoint: Path = DEFAULT_CHECKPOINT, baseline: Path = BASELINE_CHECKPOINT,
                context: int = 1024, held_out: Path | None = None) -> dict:
    from booster.audio import load_audio

    model = load_checkpoint(checkpoint)
    base = load_checkpoint(baseline)
    with tempfile.TemporaryDirectory() as tmp:
        files = sorted(held_out.rglob("mix.flac")) if held_out else render_held_out(Path(tmp))
        sr = model.config.codec.sample_rate
        clips = [torch.from_numpy(load_audio(f, sr, mono=True)[0][0]) for f in files]
    seconds = sum(len(c) for c in clips) / sr
    ours = codec_metrics(model, clips)
    theirs = codec_metrics(base, clips)
    unigram = {lv: v["unigram_entropy_nats"] for lv, v in ours["levels"].items()}
    prior = prior_metrics(model, ours.pop("tokens"), unigram) if model.priors else {}
    theirs.pop("tokens")
    attn = attention_costs(model.config.prior, context)
    sparse_ratio = {}
    for metric in ("seconds", "peak_bytes"):
        sparse_t = sum(attn[(p, context)][metric] for p in ("local", "strided"))
        sparse_4t = sum(attn[(p, 4 * context)][metric] for p in ("local", "strided"))
        sparse_ratio[metric] = sparse_4t / max(sparse_t, 1e-12)
    return {"held_out_seconds": seconds, "held_out_files": len(clips), "hqvae": ours, "vq_baseline": theirs,
            "paired": paired_reconstruction(ours, theirs), "prior": prior,
            "attention": {f"{p}@{t}": v for (p, t), v in attn.items()},
            "attention_context": context, "sparse_cost_ratio_4t_over_t": sparse_ratio}


def print_model_report(r: dict, console) -> None:
    from rich.table import Table

    t = Table(title=f"codec on {r['held_out_seconds']:.0f} s of held-out rendered audio "
                    f"({r['held_out_files']} mixes): HQ-VAE vs VQ baseline (same size, bitrate, minutes)")
    for c in ("metric", "level", "HQ-VAE", "VQ baseline"):
        t.add_column(c)
    for lv in r["hqvae"]["levels"]:
        a, b = r["hqvae"]["levels"][lv], r["vq_baseline"]["levels"][lv]
        t.add_row("codes used %", lv, f"{a['usage_pct']:.1f}", f"{b['usage_pct']:.1f}")
        t.add_row("perplexity", lv, f"{a['perplexity']:.1f}", f"{b['perplexity']:.1f}")
    t.add_row("MR-STFT distance (lower better)", "all", f"{r['hqvae']['mr_stft']:.3f}",
              f"{r['vq_baseline']['mr_stft']:.3f}")
    t.add_row("SI-SDR dB (higher better)", "all", f"{r['hqvae']['si_sdr_db']:.2f}",
              f"{r['vq_baseline']['si_sdr_db']:.2f}")
    console.print(t)
    for line in paired_sentences(r["paired"]):
        console.print(line)
    if r["prior"]:
        p = Table(title="stage 2: held-out next-token NLL vs the tokens' unigram entropy (nats)")
        for c in ("level", "NLL", "unigram entropy", "reduction %"):
            p.add_column(c)
        for lv, v in r["prior"].items():
            p.add_row(lv, f"{v['nll_nats']:.3f}", f"{v['unigram_entropy_nats']:.3f}", f"{v['reduction_pct']:.1f}")
        console.print(p)
    a = Table(title=f"attention cost, context T={r['attention_context']} and 4T (one call, 1 thread)")
    for c in ("pattern", "time T ms", "time 4T ms", "4T/T time", "peak T MiB", "peak 4T MiB"):
        a.add_column(c)
    ctx = r["attention_context"]
    for pattern in ("local", "strided", "dense"):
        s, s4 = r["attention"][f"{pattern}@{ctx}"], r["attention"][f"{pattern}@{4 * ctx}"]
        a.add_row(pattern, f"{1e3 * s['seconds']:.2f}", f"{1e3 * s4['seconds']:.2f}",
                  f"{s4['seconds'] / s['seconds']:.2f}", f"{s['peak_bytes'] / 2**20:.1f}",
                  f"{s4['peak_bytes'] / 2**20:.1f}")
    console.print(a)
    ratio = r["sparse_cost_ratio_4t_over_t"]
    console.print(f"sparse (local+strided) cost at 4T / at T: time {ratio['seconds']:.2f}x, "
                  f"peak memory {ratio['peak_bytes']:.2f}x (dense grows ~16x)")

