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


def _cached(path: Path | None, names: list[str], frames: list[int],
            compute: Callable[[], dict[str, list[np.ndarray]]]) -> dict[str, list[np.ndarray]]:
    """``compute()`` (``name -> per track (frames, dim)``) once, kept in ``path`` (an ``.npz`` written
    whole, then renamed into place) and read back from it afterwards."""
    if path is not None and path.exists():
        with np.load(path) as z:
            return {n: _split(z[n], frames) for n in names}
    out = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{n: np.concatenate(v) for n, v in out.items()})
        tmp.replace(path)
    return out


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def booster_frames(ps: ProbeSet, checkpoint: str | Path, names: list[str] | None = None,
                   cache_dir: str | Path | None = None, batch_size: int = 8,
                   progress: Callable[[int], None] | None = None) -> dict[str, list[np.ndarray]]:
    """``name -> per track (frames, dim)`` float32 at :data:`FPS`, one frame per spectrogram frame
    (default: :meth:`booster.Booster.coarse_feature_names`).

    ``progress(n)`` is called after every ``n`` tracks extracted.
    """
    booster = Booster.from_pretrained(checkpoint)
    names = list(names) if names is not None else booster.coarse_feature_names()

    def extract() -> dict[str, list[np.ndarray]]:
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
        return out

    key = _key(booster.fingerprint, names, ps.config.to_dict(), ps.ids)
    return _cached(Path(cache_dir) / f"features-{key}.npz" if cache_dir else None, names, ps.frames, extract)


def teacher_frames(ps: ProbeSet, names: list[str], cache_dir: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """Reference representations: what each pretraining teacher (:mod:`booster.teachers`) outputs on
    the probe set, ``name -> per track (frames, channels)`` at :data:`FPS`. They show how much of a
    probe a teacher's targets could put into the booster at best."""
    from booster.teachers import TEACHER_SPECS, make_teacher, to_teacher_rate

    out = {}
    for name in names:
        def run(name=name) -> dict[str, list[np.ndarray]]:
            teacher = make_teacher(name)
            return {name: [align(teacher(to_teacher_rate(a, ps.sample_rate)), TEACHER_SPECS[name].fps, FPS,
                                 n_frames=n).astype(np.float32) for a, n in zip(ps.audio, ps.frames, strict=True)]}

        path = Path(cache_dir) / f"teacher-{name}-{_key(name, ps.config.to_dict(), ps.ids)}.npz" if cache_dir else None
        out.update(_cached(path, [name], ps.frames, run))
    return out
