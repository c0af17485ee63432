"""What downstream models read: spectrograms and booster features, on one frame grid.

Every task works at :data:`FPS` frames per second. Spectrograms come from madmom (log-mel for
tagging, log-filtered semitone bands for transcription, as madmom's own models use); booster
features are cached in a feature store (resumable; an existing ``--store`` is reused when its
model fingerprint matches) and resampled to :data:`FPS` with :func:`booster.align.align`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from booster.align import align
from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint, read_config, save_checkpoint
from feature_store import FeatureStore
from feature_store.cache import CacheItem, run_cache

FPS = 50.0  # frames per second of every downstream input and target
log = logging.getLogger(__name__)


def spectrogram(audio: np.ndarray, sample_rate: int, kind: str = "mel") -> np.ndarray:
    """``(frames, bins)`` float32 log-magnitude spectrogram at :data:`FPS` of mono ``(samples,)`` audio
    (:func:`booster.audio.log_spectrogram`: 64 mel bands for tagging, 24 bands per octave for
    transcription)."""
    from booster.audio import log_spectrogram

    return log_spectrogram(audio, sample_rate, kind, FPS)


def feature_width(checkpoint: str | Path, names: list[str]) -> int:
    """Width of the booster features ``names`` side by side, from the checkpoint's config."""
    from booster.checkpoint import read_config

    cfg = read_config(checkpoint)["model"]
    return sum(cfg["codec"]["latent_dim"] if n.endswith(".embedding") else cfg["prior"]["dim"] for n in names)


def capacity_features(spec: dict[str, np.ndarray], width: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The capacity control's inputs: a fixed random projection ``(bins, width)`` of each item's own
    spectrogram ``(frames, bins)`` -> ``(frames, width)`` (``(frames, stems, bins)`` per stem likewise). Fed through the same fusion as the booster
    features, it adds the parameters and the width of a boost but no information the model's input lacks
    (the random-weights booster's layers can be near constant, which shows less)."""
    bins = next(iter(spec.values())).shape[-1]  # (frames, bins), or (frames, stems, bins) for mixing
    w = np.random.default_rng(seed).standard_normal((bins, width)).astype(np.float32) / np.sqrt(bins)
    return {k: (x.astype(np.float32) @ w) for k, x in spec.items()}


def random_checkpoint(like: str | Path, out: str | Path, seed: int = 0) -> Path:
    """The same architecture as ``like`` at random (untrained) weights: the control that tells whether
    a boost comes from pretraining or merely from the extra inputs and capacity."""
    import torch

    from hqvae.foundation import FoundationConfig, FoundationModel

    out = Path(out)
    if (out / "model.safetensors").exists():
        return out
    torch.manual_seed(seed)
    config = FoundationConfig.from_dict(read_config(like)["model"])
    save_checkpoint(FoundationModel(config), out, extra={"note": f"random weights (seed {seed}), a control"})
    return out


def booster_features(items: list[tuple[str, str]], names: list[str], store_path: str | Path,
                     checkpoint: str | Path | None = None, workers: int = 1,
                     frames: dict[str, int] | None = None,
                     on_result: Callable | None = None) -> dict[str, np.ndarray]:
    """Booster features of audio files ``[(id, path)]``: ``id -> (frames, sum of dims)`` float32 at :data:`FPS`.

    Extracted into ``store_path`` (created or resumed; only missing files are computed) with
    ``checkpoint`` (default: the bundled model), then read back and aligned; ``frames[id]`` fixes
    each one's frame count (to match its spectrogram). Files that fail to extract are left out
    (logged).
    """
    checkpoint = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    report = run_cache([CacheItem(i, str(p)) for i, p in items], store_path, checkpoint, names, workers=workers,
                       on_result=on_result)
    for track, reason in report["failed"].items():
        log.warning("booster features of %s failed: %s", track, reason)
    store = FeatureStore.open(store_path, fingerprint=fingerprint(checkpoint))
    out = {}
    complete = set(store.tracks())
    for item_id, _ in items:
        if item_id not in complete:
            continue
        parts = []
        for name in names:
            x = store.read(item_id, name)
            if x.ndim == 1:  # tokens as a one-dimensional feature would mean nothing to a linear layer
                raise ValueError(f"{name}: tokens are not a dense feature; use <level>.embedding or a layer")
            n = frames[item_id] if frames else None
            parts.append(align(x, store.specs[name].frame_rate, FPS, n_frames=n))
        out[item_id] = np.concatenate(parts, axis=1).astype(np.float32)
    return out
