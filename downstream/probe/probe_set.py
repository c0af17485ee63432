"""The held-out probe set: rendered tracks with clip tags and frame labels at :data:`FPS`.

Renders from seeds no pretraining corpus may use (:data:`PROBE_SEED` onwards), both score
sources and both synths, so a probe measures what a representation carries about music it has
not heard. The renders are kept on disk and reused while their settings match.

Labels (all from the renderer, which pretraining never sees):

- ``tags``: the clip's tags (instrument classes, tempo bucket, mode, source, style), ``(tracks, tags)``;
- ``pitch``: which of the 88 piano keys sound in each frame (pitched parts), ``(frames, 88)``;
- ``onset``: whether any note (drums included) starts in the frame, ``(frames, 1)``;
- ``instrument``: which instrument classes sound in each frame, ``(frames, classes)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from downstream.data.layouts import load_slakh_track
from downstream.data.records import TrackRecord
from downstream.inputs import FPS, spectrogram
from downstream.tasks.base import SAMPLE_RATE
from downstream.tasks.transcription import piano_rolls, record_notes

#: seeds PROBE_SEED .. PROBE_SEED + 3 render the probe set; no pretraining corpus may use them
PROBE_SEED = 7000
SUBSETS = (("procedural", "basic"), ("procedural", "fluidsynth"), ("music21", "basic"), ("music21", "fluidsynth"))
FRAME_TASKS = ("pitch", "onset", "instrument")


@dataclass(frozen=True)
class ProbeSetConfig:
    tracks_per_subset: int = 60
    seconds: float = 10.0
    seed: int = PROBE_SEED
    subsets: tuple[tuple[str, str], ...] = SUBSETS
    test_tracks: int = 80   # the fixed test split every probe is scored on
    val_tracks: int = 40    # frame probes choose their decision threshold here
    min_tag_tracks: int = 5  # a tag needs this many positive (and negative) tracks to be probed

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


@dataclass
class ProbeSet:
    """Audio, spectrograms and labels of every probe track, and its fixed splits (track indices)."""

    config: ProbeSetConfig
    ids: list[str]
    audio: list[np.ndarray]                      # (samples,) mono at SAMPLE_RATE
    spectrograms: dict[str, list[np.ndarray]]    # "logmel" / "semitone" -> per track (frames, bins)
    tags: np.ndarray                             # (tracks, n_tags) 0/1
    tag_names: list[str]
    frame_labels: dict[str, list[np.ndarray]]    # task -> per track (frames, outputs) 0/1
    instrument_names: list[str]
    splits: dict[str, list[int]] = field(default_factory=dict)  # train / val / test

    @property
    def frames(self) -> list[int]:
        return [len(s) for s in self.spectrograms["logmel"]]

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE


def render_probe_set(root: str | Path, cfg: ProbeSetConfig, say=print) -> list[Path]:
    """Render (or reuse) the probe set under ``root``; returns its track folders in a fixed order."""
    from downstream.data.render import RenderConfig, render_corpus

    root = Path(root)
    stamp = root / "probe_set.json"
    wanted = {"render": {k: v for k, v in cfg.to_dict().items()
                         if k in ("tracks_per_subset", "seconds", "seed", "subsets")}}
    if not (stamp.exists() and json.loads(stamp.read_text()) == wanted):
        stamp.unlink(missing_ok=True)
        for i, (source, synth) in enumerate(cfg.subsets):
            say(f"rendering probe subset {source}-{synth} ({cfg.tracks_per_subset} x {cfg.seconds:g} s)")
            render_corpus(root / f"{source}-{synth}",
                          RenderConfig(cfg.tracks_per_subset, cfg.seconds, source, synth, cfg.seed + i))
        stamp.write_text(json.dumps(wanted, indent=1) + "\n")  # written last: a partial render is redone
    return [root / f"{source}-{synth}" / f"Track{j:05d}" for source, synth in cfg.subsets
            for j in range(1, cfg.tracks_per_subset + 1)]


def frame_labels(record: TrackRecord, frames: int, classes: list[str]) -> dict[str, np.ndarray]:
    """Pitch ``(frames, 88)``, onset ``(frames, 1)`` and instrument-class ``(frames, classes)`` activity."""
    _, pitch = piano_rolls(record_notes(record), frames)
    onset = np.zeros((frames, 1), np.float32)
    instrument = np.zeros((frames, len(classes)), np.float32)
    for note in record.notes:
        a = int(round(note.onset * FPS))
        if a >= frames:
            continue
        onset[a, 0] = 1.0
        cls = record.stem_classes.get(note.stem, "")
        if cls in classes:
            instrument[a:max(a + 1, int(round(note.offset * FPS))), classes.index(cls)] = 1.0
    return {"pitch": pitch, "onset": onset, "instrument": instrument}


def load_probe_set(root: str | Path, cfg: ProbeSetConfig | None = None, say=print) -> ProbeSet:
    """Render if needed, then load audio, spectrograms, labels and splits of the probe set."""
    cfg = cfg or ProbeSetConfig()
    dirs = render_probe_set(root, cfg, say)
    n = len(dirs)
    if n < cfg.test_tracks + cfg.val_tracks + 4:
        raise ValueError(f"the probe set has {n} tracks; it needs more than test ({cfg.test_tracks}) + "
                         f"validation ({cfg.val_tracks}) tracks to train on")
    records = [load_slakh_track(d) for d in dirs]
    ids = [f"{d.parent.name}/{d.name}" for d in dirs]
    audio = [r.load_mix(SAMPLE_RATE)[0] for r in records]
    specs = {"logmel": [spectrogram(a, SAMPLE_RATE, "mel") for a in audio],
             "semitone": [spectrogram(a, SAMPLE_RATE, "semitone") for a in audio]}
    frames = [len(s) for s in specs["logmel"]]

    counts: dict[str, int] = {}
    for r in records:
        for t in set(r.tags):
            counts[t] = counts.get(t, 0) + 1
    tag_names = sorted(t for t, c in counts.items() if cfg.min_tag_tracks <= c <= n - cfg.min_tag_tracks)
    tags = np.array([[t in r.tags for t in tag_names] for r in records], dtype=np.float32)
    classes = sorted({c for r in records for c in r.stem_classes.values() if c})
    labels = [frame_labels(r, f, classes) for r, f in zip(records, frames, strict=True)]

    order = np.random.default_rng(cfg.seed).permutation(n).tolist()
    splits = {"test": sorted(order[:cfg.test_tracks]),
              "val": sorted(order[cfg.test_tracks:cfg.test_tracks + cfg.val_tracks]),
              "train": sorted(order[cfg.test_tracks + cfg.val_tracks:])}
    return ProbeSet(cfg, ids, audio, specs, tags, tag_names,
                    {task: [lab[task] for lab in labels] for task in FRAME_TASKS}, classes, splits)
