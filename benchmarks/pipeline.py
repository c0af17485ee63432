"""Benchmarks of the main job: extraction speed against peer models, cache scaling, store reads.

Peers are built with random weights (nothing can be downloaded); speed does not depend on weights:
- EnCodec 24 kHz: ``transformers.EncodecModel(EncodecConfig())``;
- MERT-95M-sized: ``transformers.HubertModel(HubertConfig())`` (HuBERT-base), all hidden states.
"""

from __future__ import annotations

import shutil
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
    seconds = audio.shape[-1] / sr
    res = {"audio_seconds": seconds, "threads": torch.get_num_threads()}
    res["booster_tokens"] = seconds / _best_time(lambda: b.extract(audio, sr, features=[]))
    res["booster_full"] = seconds / _best_time(lambda: b.extract(audio, sr))
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


def bench_store(corpus: Path, model_path=None, window_reads: int = 300) -> dict:
    """Cache speed 1 vs 2 workers; random 1 s window reads/s from the store vs .npy memmap and HDF5; size."""
    from feature_store.cache import CacheItem, run_cache
    from feature_store.store import FeatureStore

    items = [CacheItem(p.parent.name, str(p)) for p in sorted(corpus.rglob("mix.flac"))]
    res: dict = {"tracks": len(items)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        timings = {}
        for workers in (1, 2):
            path = tmp / f"w{workers}.zarr"
            # one thread per worker, so the ratio measures scaling over processes
            r = run_cache(items, path, model_path, workers=workers, shard_size=max(1, len(items) // 8), threads=1)
            timings[workers] = r["audio_seconds"] / r["wall_seconds"]
        res["cache_x_realtime_1_worker"] = timings[1]
        res["cache_x_realtime_2_workers"] = timings[2]
        res["cache_speedup_2_vs_1"] = timings[2] / timings[1]

        store = FeatureStore.open(tmp / "w1.zarr")
        name = "top.layer2" if "top.layer2" in store.specs else store.feature_names()[-1]
        rate = store.specs[name].frame_rate
        tracks = store.tracks()
        data = {t: store.read(t, name).astype(np.float16) for t in tracks}
        rng = np.random.default_rng(0)
        picks = [(tracks[rng.integers(len(tracks))], float(rng.uniform(0, 8.0))) for _ in range(window_reads)]
        t0 = time.perf_counter()
        for t, s in picks:
            store.window(t, name, s, 1.0)
        res["store_reads_per_s"] = window_reads / (time.perf_counter() - t0)
        # the same data as one memory-mapped .npy per track
        for t, x in data.items():
            np.save(tmp / f"{t}.npy", x)
        maps = {t: np.load(tmp / f"{t}.npy", mmap_mode="r") for t in tracks}
        t0 = time.perf_counter()
        for t, s in picks:
            a = int(s * rate)
            np.asarray(maps[t][a:a + int(rate)], dtype=np.float32)
        res["npy_reads_per_s"] = window_reads / (time.perf_counter() - t0)
        try:
            import h5py

            with h5py.File(tmp / "f.h5", "w") as f:
                for t, x in data.items():
                    f.create_dataset(t, data=x, chunks=(min(len(x), int(rate * 4)), x.shape[1]))
            with h5py.File(tmp / "f.h5", "r") as f:
                t0 = time.perf_counter()
                for t, s in picks:
                    a = int(s * rate)
                    f[t][a:a + int(rate)].astype(np.float32)
                res["hdf5_reads_per_s"] = window_reads / (time.perf_counter() - t0)
        except ImportError:
            res["hdf5_reads_per_s"] = None
        res["store_vs_npy"] = res["store_reads_per_s"] / res["npy_reads_per_s"]
        size = sum(p.stat().st_size for p in (tmp / "w1.zarr").rglob("*") if p.is_file())
        raw = sum(store.frames(t, n) * max(spec.dim, 1) * 4 for t in tracks for n, spec in store.specs.items())
        res["store_bytes"], res["raw_float32_bytes"] = size, raw
        res["store_size_vs_raw"] = size / raw
        res["feature_read"] = name
        shutil.rmtree(tmp / "w2.zarr", ignore_errors=True)
    return res


def held_out_mix(seconds: float = 10.0, mono: bool = True) -> tuple[np.ndarray, int]:
    from downstream.data.render import RenderConfig, render_corpus

    with tempfile.TemporaryDirectory() as tmp:
        render_corpus(tmp, RenderConfig(1, seconds, "procedural", "basic", 4242))
        audio, _ = load_audio(Path(tmp) / "Track00001" / "mix.flac", mono=mono)
    return (audio[0] if mono else audio), 22050
