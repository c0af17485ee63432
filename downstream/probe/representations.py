"""Representations of the probe set at :data:`FPS`: booster features of a checkpoint, per track.

Booster features are extracted with :meth:`booster.Booster.extract_batch` and averaged onto the
50 fps grid of the spectrograms (:func:`booster.align.align`, area mode when going down in rate).
They are kept on disk per checkpoint fingerprint and probe-set settings, so a second probe of
the same checkpoint (e.g. the bundled model in every ``make bench``) does not extract again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from booster import Booster
from booster.align import align
from downstream.inputs import FPS
from downstream.probe.probe_set import ProbeSet


def _split(stacked: np.ndarray, frames: list[int]) -> list[np.ndarray]:
    """Per-track arrays from frames stacked along axis 0 (read from an ``.npz`` once: indexing the
    archive again per track would load the whole array each time)."""
    bounds = np.cumsum([0] + frames)
    if bounds[-1] != len(stacked):
        raise ValueError(f"cached features hold {len(stacked)} frames, the probe set {bounds[-1]}")
    return [stacked[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def default_feature_names(booster: Booster) -> list[str]:
    """Every feature of the top and mid levels: what the downstream tasks read (the finest level's
    prior costs most of the extraction time and no task reads it)."""
    return [n for n in booster.feature_names() if n.split(".")[0] in booster.levels[:2]]


def booster_frames(ps: ProbeSet, checkpoint: str | Path, names: list[str] | None = None,
                   cache_dir: str | Path | None = None, batch_size: int = 8,
                   progress: Callable[[int], None] | None = None) -> dict[str, list[np.ndarray]]:
    """``name -> per track (frames, dim)`` float32 at :data:`FPS`, one frame per spectrogram frame.

    ``progress(n)`` is called after every ``n`` tracks extracted.
    """
    booster = Booster.from_pretrained(checkpoint)
    names = list(names) if names is not None else default_feature_names(booster)
    key = hashlib.sha256(json.dumps([booster.fingerprint, names, ps.config.to_dict(), ps.ids],
                                    sort_keys=True).encode()).hexdigest()[:20]
    cached = Path(cache_dir) / f"features-{key}.npz" if cache_dir else None
    if cached is not None and cached.exists():
        with np.load(cached) as z:
            return {n: _split(z[n], ps.frames) for n in names}
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for k in range(0, len(ps.audio), batch_size):
        results = booster.extract_batch(ps.audio[k:k + batch_size], ps.sample_rate, features=names,
                                        batch_size=batch_size)
        for i, res in enumerate(results, start=k):
            for n in names:
                x = align(res.features[n].numpy(), res.frame_rates[n], FPS, n_frames=ps.frames[i])
                out[n].append(x.astype(np.float32))
        if progress:
            progress(len(results))
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, **{n: np.concatenate(v) for n, v in out.items()})
        tmp.replace(cached)
    return out


def teacher_frames(ps: ProbeSet, names: list[str], cache_dir: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """Reference representations: what each pretraining teacher (:mod:`booster.teachers`) outputs on
    the probe set, ``name -> per track (frames, channels)`` at :data:`FPS`. They show how much of a
    probe a teacher's targets could put into the booster at best."""
    import soxr

    from booster.teachers import TEACHER_RATE, TEACHER_SPECS, make_teacher

    out = {}
    for name in names:
        key = hashlib.sha256(json.dumps([name, ps.config.to_dict(), ps.ids]).encode()).hexdigest()[:20]
        cached = Path(cache_dir) / f"teacher-{name}-{key}.npz" if cache_dir else None
        if cached is not None and cached.exists():
            with np.load(cached) as z:
                out[name] = _split(z["x"], ps.frames)
            continue
        teacher = make_teacher(name)
        frames = []
        for audio, n in zip(ps.audio, ps.frames, strict=True):
            a = audio if ps.sample_rate == TEACHER_RATE else soxr.resample(audio, ps.sample_rate, TEACHER_RATE)
            frames.append(align(teacher(a), TEACHER_SPECS[name].fps, FPS, n_frames=n).astype(np.float32))
        out[name] = frames
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.npz")
            np.savez(tmp, x=np.concatenate(frames))
            tmp.replace(cached)
    return out
