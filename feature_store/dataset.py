"""A torch ``Dataset`` of fixed-length windows read from a feature store, aligned to one frame rate."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from booster.align import align
from feature_store.store import FeatureStore


class WindowDataset(Dataset):
    """Windows of ``window_s`` seconds every ``hop_s`` over every complete track.

    Each item: ``{"track": id, "start_s": float, <name>: (frames, dim) float tensor or (frames,) long
    tensor, "labels": ...}`` with every feature resampled (:func:`booster.align.align`; nearest for
    tokens) to ``frame_rate`` frames/s, ``round(window_s * frame_rate)`` frames, zero-padded past a
    track's end. ``labels(track_id, start_s, window_s)`` supplies targets from the dataset record.
    """

    def __init__(self, store: FeatureStore, names: list[str], window_s: float, frame_rate: float,
                 hop_s: float | None = None, labels: Callable[[str, float, float], object] | None = None,
                 tracks: list[str] | None = None):
        self.store, self.names, self.window_s, self.frame_rate = store, names, window_s, frame_rate
        self.labels = labels
        for n in names:
            store._spec(n)
        hop_s = hop_s or window_s
        self.n_frames = int(round(window_s * frame_rate))
        self.index: list[tuple[str, float]] = []
        for track in tracks if tracks is not None else store.tracks():
            spec = store.specs[names[0]]
            duration = store.frames(track, names[0]) / spec.frame_rate
            starts = np.arange(0.0, max(duration - window_s, 0.0) + 1e-9, hop_s)
            self.index += [(track, float(s)) for s in starts]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        track, start = self.index[i]
        item: dict = {"track": track, "start_s": start}
        for name in self.names:
            spec = self.store.specs[name]
            x = self.store.window(track, name, start, self.window_s)
            x = align(x, spec.frame_rate, self.frame_rate, n_frames=self.n_frames,
                      mode="nearest" if spec.is_tokens else "linear")
            item[name] = torch.from_numpy(np.ascontiguousarray(x))
        if self.labels is not None:
            item["labels"] = self.labels(track, start, self.window_s)
        return item
