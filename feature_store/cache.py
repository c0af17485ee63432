"""Fill a feature store from audio: local processes or a Dask cluster, one code path.

Work is cut into shards of tracks; each shard runs in a worker (a local process or a Dask
worker) that loads the model once, writes its own part of the store, and returns a result
per track. A failing file (corrupt, empty, NaN) is recorded in the manifest with its reason
and the shard goes on. Tracks already complete in the store are skipped, so a rerun after a
crash does exactly the missing work.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import numpy as np

from booster.audio import AudioError, probe, stream_audio
from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint, read_config
from booster.device import resolve_precision
from feature_store.store import Compression, FeatureSpec, FeatureStore, StoreError, file_hash


@dataclass(frozen=True)
class CacheItem:
    track_id: str
    path: str


@dataclass
class TrackResult:
    track_id: str
    ok: bool
    seconds: float = 0.0
    error: str = ""


#: what ``--features`` may name besides features: ``default`` = every level's tokens + the prior layers of
#: the two coarsest levels (what the downstream tasks read; code vectors are one lookup from the tokens, and
#: the readout's features a few convolutions over them, so both are computed on read),
#: ``all`` = everything the model gives, ``tokens`` = the tokens alone
PRESETS = ("default", "all", "tokens")


def preset_features(booster, preset: str) -> list[str]:
    """The feature names of a :data:`PRESETS` entry for this model."""
    tokens = [f"{lv}.tokens" for lv in booster.levels]
    if preset == "tokens":
        return tokens
    if preset == "all":
        per_level = [n for lv in booster.levels for n in (f"{lv}.tokens", *(f for f in booster.feature_names()
                                                                              if f.split(".")[0] == lv))]
        return per_level + [f for f in booster.feature_names() if f.startswith("readout.")]
    if preset == "default":  # the readout reads tokens alone: computed on read (FeatureStore.read) when wanted
        return tokens + [n for n in booster.coarse_feature_names() if not n.endswith(".embedding")
                         and not n.startswith("readout.")]
    raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")


def resolve_features(booster, names: list[str] | None) -> list[str]:
    """Feature names with presets expanded, in order, each once; ``None`` is the ``default`` preset."""
    out: list[str] = []
    for n in names if names is not None else ["default"]:
        for f in preset_features(booster, n) if n in PRESETS else [n]:
            if f not in out:
                out.append(f)
    return out


def preset_of(booster, names: list[str]) -> str | None:
    """The preset whose features are exactly ``names`` (any order), or None."""
    return next((p for p in PRESETS if sorted(preset_features(booster, p)) == sorted(names)), None)


#: ``--rate`` choices besides a number of frames/s: ``coarsest`` stores every feature at the coarsest
#: level's frame rate (finer levels' frames averaged in groups), ``native`` at the model's own rates
RATES = ("coarsest", "native")
MAX_POOL = 32  # a power of two that divides every window's frame count (windows start on block boundaries)


def pool_factor(native_rate: float, rate: str | float, coarsest_rate: float) -> int:
    """Frames averaged per stored frame: the largest power of two (<= :data:`MAX_POOL`) that keeps the
    stored rate >= the asked one (``coarsest``: the coarsest level's rate; ``native``: 1)."""
    if rate == "native":
        return 1
    target = coarsest_rate if rate == "coarsest" else float(rate)
    if not target > 0:
        raise ValueError(f"--rate {rate!r}: give coarsest, native, or frames per second > 0")
    pool = 1
    while pool < MAX_POOL and native_rate / (2 * pool) >= target - 1e-6:
        pool *= 2
    return pool


def pool_frames(x: np.ndarray, pool: int) -> np.ndarray:
    """Mean of each group of ``pool`` frames of ``x`` ``(frames, dim)``; a last, shorter group is the mean of
    what it has. Windows of a stream hold whole groups (but the last), so pooling window by window
    equals pooling the whole track."""
    if pool == 1:
        return x
    n = len(x) // pool * pool
    out = x[:n].reshape(-1, pool, x.shape[1]).mean(axis=1, dtype=np.float32)
    return np.concatenate([out, x[n:].mean(axis=0, keepdims=True, dtype=np.float32)]) if n < len(x) else out


def feature_specs(booster, names: list[str] | None = None, rate: str | float = "coarsest") -> list[FeatureSpec]:
    """Specs for the features ``names`` (presets allowed; ``None``: the ``default`` preset), features
    stored at ``rate`` (:data:`RATES` or frames/s; tokens always at their own rate)."""
    cfg = booster.model.config
    coarsest = booster.frame_rate(booster.levels[0])
    available = {}
    for level in booster.levels:
        native = booster.frame_rate(level)
        pool = pool_factor(native, rate, coarsest)
        available[f"{level}.tokens"] = FeatureSpec(f"{level}.tokens", native, 0)
        available[f"{level}.embedding"] = FeatureSpec(f"{level}.embedding", native / pool, cfg.codec.latent_dim,
                                                      pool)
        if booster.model.priors:
            for j in cfg.feature_layers:
                available[f"{level}.layer{j}"] = FeatureSpec(f"{level}.layer{j}", native / pool, cfg.prior.dim, pool)
    top_pool = pool_factor(coarsest, rate, coarsest)
    for name in booster.feature_names():
        if name.startswith("readout."):  # at the top level's rate
            available[name] = FeatureSpec(name, booster.feature_rate(name) / top_pool, booster.feature_dim(name), top_pool)
    names = resolve_features(booster, names)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown features {unknown}; available: {', '.join(available)}, or a preset: "
                         f"{', '.join(PRESETS)}")
    return [available[n] for n in names]


@dataclass(frozen=True)
class Engine:
    """How a worker runs the model: torch ``threads`` (None: torch's default), ``device`` and the priors'
    ``precision`` (``float32`` or ``bfloat16``: the store's, :attr:`FeatureStore.precision`).
    (``torch.compile`` was measured and left out: 1.2-1.5x faster per call at fixed shapes, but a 1-hour
    file cached at 16x realtime against 29x eager, from recompilations; docs/feature-store.md.)"""

    threads: int | None = 1
    device: str = "cpu"
    precision: str = "float32"


_BOOSTERS: dict = {}


def _booster(model_path: str, engine: Engine = Engine(None)):
    """The worker's model, loaded once per process and engine; the engine's threads apply to every call."""
    import torch

    if engine.threads:
        torch.set_num_threads(engine.threads)
    key = (model_path, engine.device, engine.precision)
    if key not in _BOOSTERS:
        from booster.extract import Booster

        _BOOSTERS[key] = Booster.from_pretrained(model_path, device=engine.device, precision=engine.precision)
    return _BOOSTERS[key]


def feature_pieces(booster, path: str, specs: list[FeatureSpec],
                   on_window: Callable[[float], None] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """The file's features window by window (:meth:`Booster.stream`): any length in bounded memory,
    each feature pooled as its spec says; ``on_window(seconds)`` after each window. Raises
    :class:`AudioError` for a file that cannot be decoded or is digital silence."""
    names = [s.name for s in specs]
    pools = {s.name: s.pool for s in specs}
    top_rate = booster.frame_rate(booster.levels[0])
    peak = 0.0

    def blocks() -> Iterator[np.ndarray]:
        nonlocal peak
        for block in stream_audio(path, booster.sample_rate, mono=True, block_seconds=booster.window_s / 2):
            peak = max(peak, float(np.abs(block).max()))
            yield block
        if peak == 0.0:  # raised before the last window is handed over: the track is never committed
            raise AudioError(path, "is digital silence", "nothing to extract; remove it from the input")

    wanted = [n for n in names if not n.endswith(".tokens")]
    for out in booster.stream(blocks(), features=wanted):
        feats = {n: pool_frames(out.features[n].numpy(), pools[n]) for n in wanted}
        for n in names:
            if n.endswith(".tokens"):
                feats[n] = out.tokens[n.rsplit(".", 1)[0]].numpy()
        yield feats
        if on_window:
            on_window(len(out.tokens[booster.levels[0]]) / top_rate)


def process_shard(store_path: str, model_path: str, names: list[str], items: list[CacheItem],
                  engine: Engine = Engine(), progress=None) -> list[TrackResult]:
    """Extract and store one shard of tracks in a new part of the store. Runs in a worker.
    ``progress``: a callable or a queue (``put``) that receives the audio seconds of each window done."""
    booster = _booster(model_path, engine)
    store = FeatureStore.open(store_path, mode="a")
    specs = [store.specs[n] for n in names]
    on_window = getattr(progress, "put", progress)
    results = []
    # a shard run again (its worker died, the cluster retried it) does only what is not yet committed
    done = store.committed([item.track_id for item in items])
    with store.writer() as writer:
        for item in items:
            if item.track_id in done:
                results.append(TrackResult(item.track_id, True, done[item.track_id].duration))
                continue
            try:
                seconds = probe(item.path).duration
                writer.add_stream(item.track_id, feature_pieces(booster, item.path, specs, on_window), item.path,
                                  file_hash(item.path), seconds)
            except (AudioError, ValueError, RuntimeError) as err:
                writer.fail(item.track_id, str(err), item.path)
                results.append(TrackResult(item.track_id, False, error=str(err)))
                continue
            results.append(TrackResult(item.track_id, True, seconds))
    return results


def shards(items: list[CacheItem], size: int, workers: int = 1) -> list[list[CacheItem]]:
    """Units of work: at most ``size`` tracks each, and, with several workers, at most about a quarter
    of each worker's share of the audio (so four 6-minute files make four units for two workers, not one
    shard of eight tracks on one worker). Order is kept; an unreadable file counts as 0 s (it fails fast)."""
    if workers <= 1:
        return [items[i:i + size] for i in range(0, len(items), size)]
    from booster.audio import AudioError, probe

    seconds = []
    for item in items:
        try:
            seconds.append(probe(item.path).duration)
        except AudioError:
            seconds.append(0.0)
    target = sum(seconds) / (4 * workers)
    out: list[list[CacheItem]] = []
    current: list[CacheItem] = []
    total = 0.0
    for item, s in zip(items, seconds, strict=True):
        if current and (len(current) >= size or total + s > target):
            out.append(current)
            current, total = [], 0.0
        current.append(item)
        total += s
    return out + ([current] if current else [])


def open_or_create(store_path: Path, model_path: Path, names: list[str] | None,
                   allow_mismatch: bool = False, rate: str | float = "coarsest",
                   compression: Compression | None = None, precision: str = "float32",
                   device: str = "cpu") -> tuple[FeatureStore, list[str]]:
    """The store to fill (created if new, with features at ``rate`` and ``compression``, computed at
    ``precision`` on ``device``: :func:`booster.device.resolve_precision`) and the feature names it holds. An
    existing store keeps its own rate, compression and precision (``auto`` takes the store's; another one is
    refused: one store, one precision)."""
    resolved = resolve_precision(precision, device)  # a bad value fails here, before any store is touched
    fp = fingerprint(model_path)
    if store_path.exists():
        store = FeatureStore.open(store_path, fingerprint=fp, allow_mismatch=allow_mismatch, mode="a")
        if precision != "auto" and resolved != store.precision:
            raise StoreError(f"{store_path}: its features were computed in {store.precision}, not {precision}; "
                             f"resume it with --precision {store.precision} (or auto), or use a new store")
        if names is not None:
            names = resolve_features(_booster(str(model_path)), names)
            if sorted(names) != sorted(store.feature_names()):
                raise StoreError(f"{store_path}: holds features {store.feature_names()}, not {names}; "
                                 "use a new store for other features")
        return store, store.feature_names()
    booster = _booster(str(model_path))
    specs = feature_specs(booster, names, rate)
    store = FeatureStore.create(store_path, fp, specs, read_config(model_path)["model"], booster.sample_rate,
                                compression, resolved)
    return store, [s.name for s in specs]


def run_cache(
    items: list[CacheItem],
    store_path: str | Path,
    model_path: str | Path | None = None,
    names: list[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    shard_size: int = 8,
    allow_mismatch: bool = False,
    on_result: Callable[[TrackResult], None] | None = None,
    threads: int | None = None,
    rate: str | float = "coarsest",
    compression: Compression | None = None,
    on_progress: Callable[[float], None] | None = None,
    device: str = "cpu",
    precision: str = "float32",
) -> dict:
    """Cache every item not already complete in the store. Returns counts, failures and timing.

    ``threads``: torch threads per worker (default: the machine's cores shared by the workers that have
    work, so one long file on two workers still uses both cores). ``rate``/``compression``: of a new
    store (:func:`feature_specs`, :class:`Compression`). ``on_progress(seconds)``: audio seconds after
    each window of every track (local processes too; on a Dask cluster, per track). ``device``: the workers'
    (:class:`Engine`). ``precision``: of a new store's features (:func:`open_or_create`; ``auto`` is bfloat16
    priors where the device computes bfloat16 natively).
    """
    store_path = Path(store_path)
    model_path = Path(model_path) if model_path else DEFAULT_CHECKPOINT
    read_config(model_path)  # a clear CheckpointError before any work
    ids = [i.track_id for i in items]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise ValueError(f"track ids are not unique (e.g. {dupes})")
    store, names = open_or_create(store_path, model_path, names, allow_mismatch, rate, compression, precision, device)
    done = set(store.tracks())
    todo = [i for i in items if i.track_id not in done]
    t0 = time.perf_counter()
    results: list[TrackResult] = []
    work = shards(todo, shard_size, workers if not scheduler else max(workers, 2))
    if work:
        if threads is None and not scheduler:  # the cores, shared by the workers that have work
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            threads = max(1, cores // min(workers, len(work)))
        elif threads is None:
            threads = 1
        engine = Engine(threads, device, store.precision)
        for shard_results in _run_shards(work, str(store_path), str(model_path), names, workers, scheduler,
                                         engine, on_progress):
            for r in shard_results:
                results.append(r)
                if on_result:
                    on_result(r)
    wall = time.perf_counter() - t0
    store.entries(refresh=True)
    return {"skipped": len(items) - len(todo), "done": sum(r.ok for r in results),
            "failed": {r.track_id: r.error for r in results if not r.ok},
            "audio_seconds": sum(r.seconds for r in results), "wall_seconds": wall}


def _run_shards(work, store_path, model_path, names, workers, scheduler, engine,
                on_progress=None) -> Iterator[list[TrackResult]]:
    """Yield each shard's results as it finishes: inline, in local processes, or on a Dask cluster."""
    args = (store_path, model_path, names)
    if scheduler:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with ExitStack() as stack:
            if scheduler.startswith("slurm"):  # "slurm" or "slurm:JOBS": a cluster of our own, for this run
                from feature_store.cluster import slurm_cluster

                jobs = int(scheduler.partition(":")[2] or 1)
                scheduler = stack.enter_context(slurm_cluster(jobs)).scheduler_address
            client = stack.enter_context(Client(scheduler))
            futures = [client.submit(process_shard, *args, shard, engine, pure=False) for shard in work]
            for fut in dask_completed(futures):
                yield fut.result()
    elif workers <= 1:
        for shard in work:
            yield process_shard(*args, shard, engine, on_progress)
    else:
        # spawn, not fork: a forked child inherits torch's OpenMP state and can deadlock
        ctx = multiprocessing.get_context("spawn")
        with ExitStack() as stack:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers, mp_context=ctx))
            queue = stack.enter_context(ctx.Manager()).Queue() if on_progress else None
            pending = {pool.submit(process_shard, *args, shard, engine, queue) for shard in work}
            while pending:
                finished, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                _drain(queue, on_progress)
                for fut in finished:
                    yield fut.result()
            _drain(queue, on_progress)


def _drain(queue, on_progress) -> None:
    """Hand every window's seconds waiting in ``queue`` to ``on_progress``."""
    while queue is not None:
        try:
            on_progress(queue.get_nowait())
        except Empty:
            return

