"""Benchmarks of the main job: extraction speed against peer models, `booster cache` end to end, store
size and reads.

Peers are built with random weights (nothing can be downloaded); speed does not depend on weights:
- EnCodec 24 kHz: ``transformers.EncodecModel(EncodecConfig())``;
- MERT-95M-sized: ``transformers.HubertModel(HubertConfig())`` (HuBERT-base), all hidden states.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import soxr
import torch

from booster.audio import load_audio


def _best_time(fn, repeat: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@torch.inference_mode()
def bench_extract(audio: np.ndarray, sr: int, model_path=None) -> dict:
    """x realtime of tokens-only and full extraction vs EnCodec 24 kHz and HuBERT-base, one run."""
    from booster.extract import Booster

    b = Booster.from_pretrained(model_path)
    auto = Booster.from_pretrained(model_path, precision="auto")  # what `booster cache` runs by default
    seconds = audio.shape[-1] / sr
    res = {"audio_seconds": seconds, "threads": torch.get_num_threads(), "auto_precision": auto.precision}
    res["booster_tokens"] = seconds / _best_time(lambda: b.extract(audio, sr, features=[]))
    res["booster_full"] = seconds / _best_time(lambda: b.extract(audio, sr))
    # what `booster cache` computes by default: every token + the top and mid prior layers
    from feature_store.cache import preset_features

    default = [n for n in preset_features(b, "default") if not n.endswith(".tokens")]
    res["booster_default"] = seconds / _best_time(lambda: b.extract(audio, sr, features=default))
    if auto.precision != b.precision:  # the same features with the priors in bfloat16, and their drift
        res["booster_default_auto"] = seconds / _best_time(lambda: auto.extract(audio, sr, features=default))
        ref, out = b.extract(audio, sr, features=default), auto.extract(audio, sr, features=default)
        res["auto_max_rel_l2"] = max(float((out.features[n] - ref.features[n]).norm() / ref.features[n].norm())
                                     for n in default)
        res["auto_tokens_equal"] = all(torch.equal(out.tokens[lv], ref.tokens[lv]) for lv in ref.tokens)
    readout = [n for n in b.feature_names() if n.startswith("readout.")]
    if readout:  # what booster probe and the HEAR module read: the default features and the readout's
        res["booster_default_and_readout"] = seconds / _best_time(lambda: b.extract(audio, sr, features=default + readout))
    # many short clips (2 s, as in tagging datasets): one by one vs extract_batch
    clip = int(2 * sr)
    clips = [audio[i:i + clip] for i in range(0, len(audio) - clip + 1, clip // 2)]
    clip_seconds = len(clips) * clip / sr
    res["clips"] = len(clips)
    res["booster_full_clips_one_by_one"] = clip_seconds / _best_time(lambda: [b.extract(c, sr) for c in clips], 2)
    res["booster_full_clips_batched"] = clip_seconds / _best_time(lambda: b.extract_batch(clips, sr), 2)
    # the HEAR module on 16 clips of 4 s against extract_batch of the same clips and features
    from booster import hear

    hm = hear.HearModel(b)
    clips4 = torch.from_numpy(np.stack([np.resize(audio, int(4 * sr))] * 16).astype(np.float32))
    if sr != hm.sample_rate:
        raise ValueError(f"the held-out mix is at {sr} Hz, the model at {hm.sample_rate}")
    t_batch = _best_time(lambda: b.extract_batch(list(clips4.numpy()), sr, features=hm.features, batch_size=16), 2)
    t_hear = _best_time(lambda: hear.get_timestamp_embeddings(clips4, hm), 2)
    res["hear_vs_extract_batch"] = t_batch / t_hear
    try:
        from transformers import EncodecConfig, EncodecModel, HubertConfig, HubertModel
    except ImportError:
        res["peers"] = "transformers missing: pip install -e '.[bench]'"
        return res
    torch.manual_seed(0)
    enc = EncodecModel(EncodecConfig()).eval()
    x24 = torch.from_numpy(soxr.resample(audio, sr, 24000).astype(np.float32))[None, None]
    res["encodec_24k"] = seconds / _best_time(lambda: enc.encode(x24))
    hub = HubertModel(HubertConfig()).eval()
    x16 = torch.from_numpy(soxr.resample(audio, sr, 16000).astype(np.float32))[None]
    res["hubert_base"] = seconds / _best_time(lambda: hub(x16, output_hidden_states=True), repeat=2)
    return res


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_cache(files: list[Path], model_path=None, window_reads: int = 300, workers: int = 2) -> dict:
    """`booster cache` end to end on ``files`` (any rate/channels), against decoding alone in the same run.

    - speed: default-preset store with ``workers`` workers, x realtime, and the ratio to decoding +
      resampling the same files (the floor any cache pays); at ``booster cache``'s default precision (``auto``)
      and, where that is bfloat16, at float32 too;
    - size per audio hour: the default store (coarsest rate, zstd, bfloat16 precision), a tokens-only store,
      and the old default (native rates, raw float16 chunks) as the baseline, plus the source files;
    - random 1 s window reads of a mid feature: default store, raw-chunk store, memory-mapped ``.npy``.
    """
    from booster.audio import probe, stream_audio
    from feature_store.cache import CacheItem, run_cache
    from feature_store.store import Compression, FeatureStore

    items = [CacheItem(f"t{i:03d}", str(p)) for i, p in enumerate(files)]
    seconds = sum(probe(p).duration for p in files)
    res: dict = {"tracks": len(items), "audio_seconds": seconds, "workers": workers,
                 "source_mb_per_hour": sum(p.stat().st_size for p in files) / 1e6 / (seconds / 3600)}
    t0 = time.perf_counter()
    for p in files:  # what every cache run does first: decode and resample to the model's mono rate
        for _ in stream_audio(p, 22050, mono=True, block_seconds=10.0):
            pass
    res["decode_x_realtime"] = seconds / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = {"default": {"precision": "auto"}, "default_float32": {"precision": "float32"},
                "tokens": {"names": ["tokens"]},
                "native_raw": {"rate": "native", "compression": Compression("none", 0, 10)}}
        for name, kwargs in runs.items():
            if name == "default_float32" and res["default_precision"] == "float32":
                continue  # `auto` was float32 here: the same run again
            r = run_cache(items, tmp / f"{name}.zarr", model_path, workers=workers, **kwargs)
            if r["failed"]:
                raise RuntimeError(f"bench cache {name}: failed tracks {r['failed']}")
            res[f"cache_{name}_x_realtime"] = r["audio_seconds"] / r["wall_seconds"]
            res[f"{name}_mb_per_hour"] = _size(tmp / f"{name}.zarr") / 1e6 / (seconds / 3600)
            res[f"{name}_precision"] = FeatureStore.open(tmp / f"{name}.zarr").precision
        res["cache_vs_decode"] = res["cache_default_x_realtime"] / res["decode_x_realtime"]

        feature = "mid.layer2"
        default = FeatureStore.open(tmp / "default.zarr")
        tracks = default.tracks()
        # the same data in raw chunks (what --compression none writes) and as one memory-mapped .npy per track
        raw = FeatureStore.create(tmp / "raw.zarr", default.fingerprint, [default.specs[feature]],
                                  compression=Compression("none", 0, 10))
        with raw.writer() as w:
            for t in tracks:
                w.add(t, {feature: default.read(t, feature)})
                np.save(tmp / f"{t}.npy", default.read(t, feature).astype(np.float16))
        raw = FeatureStore.open(tmp / "raw.zarr")
        rate = default.specs[feature].frame_rate
        maps = {t: np.load(tmp / f"{t}.npy", mmap_mode="r") for t in tracks}
        rng = np.random.default_rng(0)
        length = {t: default.frames(t, feature) / rate - 1.0 for t in tracks}  # seconds where a 1 s window fits
        random_picks = []
        for _ in range(window_reads):
            t = tracks[rng.integers(len(tracks))]
            random_picks.append((t, float(rng.uniform(0, length[t]))))
        in_order = [(t, float(s)) for t in tracks for s in np.arange(0.0, length[t], 1.0)]  # each track in turn

        def npy_read(t: str, s: float) -> None:
            a = int(s * rate)
            np.asarray(maps[t][a:a + int(rate)], dtype=np.float32)

        readers = {"default": lambda t, s: default.window(t, feature, s, 1.0),
                   "raw": lambda t, s: raw.window(t, feature, s, 1.0), "npy": npy_read}
        for order, picks in (("random", random_picks), ("in_order", in_order)):
            for k, read in readers.items():
                t0 = time.perf_counter()
                for t, s in picks:
                    read(t, s)
                res[f"reads_{order}_{k}_per_s"] = len(picks) / (time.perf_counter() - t0)
            for k in ("default", "raw"):
                res[f"reads_{order}_{k}_vs_npy"] = res[f"reads_{order}_{k}_per_s"] / res[f"reads_{order}_npy_per_s"]
        res["feature_read"] = feature
    return res


def bench_files(out: Path, n: int = 8, seconds: float = 45.0, sample_rate: int = 44100) -> list[Path]:
    """``n`` held-out renders as 44.1 kHz stereo FLAC (the format users cache): the default input of
    :func:`bench_cache` when no folder of real recordings is given."""
    from downstream.data.render import RenderConfig, render_corpus

    render_corpus(out / "renders", RenderConfig(n, seconds, "procedural", "basic", 4343))
    files = []
    for i, mix in enumerate(sorted((out / "renders").rglob("mix.flac"))):
        audio, info = load_audio(mix)
        audio = soxr.resample(audio.T, info.sample_rate, sample_rate).T
        stereo = np.stack([audio[0], np.roll(audio[-1], 7)]) if audio.shape[0] == 1 else audio[:2]
        path = out / f"bench{i:02d}.flac"
        import soundfile as sf

        sf.write(str(path), stereo.T, sample_rate, subtype="PCM_16")
        files.append(path)
    return files


def held_out_mix(seconds: float = 10.0, mono: bool = True) -> tuple[np.ndarray, int]:
    from downstream.data.render import RenderConfig, render_corpus

    with tempfile.TemporaryDirectory() as tmp:
        render_corpus(tmp, RenderConfig(1, seconds, "procedural", "basic", 4242))
        audio, _ = load_audio(Path(tmp) / "Track00001" / "mix.flac", mono=mono)
    return (audio[0] if mono else audio), 22050
