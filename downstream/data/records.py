"""The one record type every dataset loader yields.

A record describes a track and points at its bytes (like a lhotse manifest); audio is
decoded only when asked for, through the project's single loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from booster.audio import load_audio


@dataclass(frozen=True)
class Note:
    """One note: times in seconds, MIDI pitch and velocity, and the stem it belongs to."""

    onset: float
    offset: float
    pitch: int
    velocity: int = 100
    program: int = 0
    is_drum: bool = False
    stem: str = ""


@dataclass(frozen=True)
class MixParams:
    """How a dry stem was placed in the mix: gain in dB and constant-power pan in [-1, 1]."""

    gain_db: float
    pan: float


@dataclass
class TrackRecord:
    """A track of any supported dataset.

    ``stems``: stem name -> audio path. ``notes`` and ``mixing`` may be empty when the
    dataset has no such labels (MUSDB18 has no notes, MagnaTagATune only tags).
    """

    track_id: str
    dataset: str
    mix_path: Path
    split: str = "train"
    stems: dict[str, Path] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    mixing: dict[str, MixParams] = field(default_factory=dict)
    stem_classes: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def load_mix(self, sample_rate: int | None = None, mono: bool = True) -> np.ndarray:
        """Mixture audio ``(channels, samples)`` float32 at ``sample_rate`` (file rate if None)."""
        return load_audio(self.mix_path, sample_rate, mono=mono)[0]

    def load_stem(self, name: str, sample_rate: int | None = None, mono: bool = True) -> np.ndarray:
        return load_audio(self.stems[name], sample_rate, mono=mono)[0]

    def notes_array(self, include_drums: bool = False) -> np.ndarray:
        """Notes as ``(n, 3)`` float array of (onset s, offset s, midi pitch), sorted by onset."""
        rows = [(n.onset, n.offset, n.pitch) for n in self.notes if include_drums or not n.is_drum]
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        return arr[np.argsort(arr[:, 0], kind="stable")]
