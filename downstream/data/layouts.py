"""Loaders for the standard dataset layouts, all yielding :class:`TrackRecord`.

- ``slakh``: Slakh2100 (``TrackNNNNN/{mix.flac, stems/, MIDI/, metadata.yaml}``, either in
  ``train/validation/test`` folders or flat beside a ``splits.json``), which is also what
  ``booster data render`` writes.
- ``musdb``: MUSDB18-HQ (``{train,test}/<song>/{mixture,drums,bass,other,vocals}.wav``).
- ``maestro``: MAESTRO (``maestro-v*.csv`` + ``<year>/*.midi`` + ``<year>/*.wav``).
- ``mtat``: MagnaTagATune (``annotations_final.csv``, tab-separated, + ``<d>/*.mp3`` clips),
  top-50 tags and the usual split by folder (0-b train, c validation, d-f test).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import yaml

from downstream.data.records import MixParams, Note, TrackRecord

SPLITS = ("train", "validation", "test")
MUSDB_STEMS = ("drums", "bass", "other", "vocals")


class DatasetError(ValueError):
    """A folder that is not in the layout it claims (or any known layout)."""


def midi_notes(path: Path, stem: str = "") -> list[Note]:
    # imported here: caching a folder of plain audio resolves layouts too, and needs no MIDI reader
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    notes = []
    for inst in midi.instruments:
        for n in inst.notes:
            notes.append(Note(float(n.start), float(n.end), int(n.pitch), int(n.velocity),
                              int(inst.program), bool(inst.is_drum), stem))
    return sorted(notes, key=lambda n: (n.onset, n.pitch))


# --- Slakh2100 and our rendered corpus ---------------------------------------------------

def _slakh_track_dirs(root: Path) -> list[tuple[Path, str]]:
    if any((root / s).is_dir() for s in SPLITS) and not (root / "splits.json").exists():
        return [(d, s) for s in SPLITS if (root / s).is_dir()
                for d in sorted((root / s).iterdir()) if (d / "metadata.yaml").exists()]
    split_of = {}
    if (root / "splits.json").exists():
        for split, ids in json.loads((root / "splits.json").read_text()).items():
            split_of.update({i: split for i in ids})
    return [(d, split_of.get(d.name, "train")) for d in sorted(root.iterdir())
            if d.is_dir() and (d / "metadata.yaml").exists()]


def load_slakh_track(tdir: Path, split: str = "train") -> TrackRecord:
    meta = yaml.safe_load((tdir / "metadata.yaml").read_text())
    if not isinstance(meta, dict) or "stems" not in meta:
        raise DatasetError(f"{tdir / 'metadata.yaml'}: not Slakh metadata (no 'stems' field)")
    audio_dir = tdir / meta.get("audio_dir", "stems")
    midi_dir = tdir / meta.get("midi_dir", "MIDI")
    stems, notes, classes, mixing = {}, [], {}, {}
    for sid, info in sorted(meta["stems"].items()):
        if not info.get("audio_rendered", True) or not (audio_dir / f"{sid}.flac").exists():
            continue  # Slakh lists stems it never rendered
        stems[sid] = audio_dir / f"{sid}.flac"
        classes[sid] = info.get("inst_class", "")
        if (midi_dir / f"{sid}.mid").exists():
            notes += midi_notes(midi_dir / f"{sid}.mid", sid)
        if "gain_db" in info:
            mixing[sid] = MixParams(float(info["gain_db"]), float(info.get("pan", 0.0)))
    tags = meta.get("tags") or sorted({c.lower() for c in classes.values() if c})
    extra = {k: meta[k] for k in ("tempo", "key", "mode", "meter", "source", "style", "title", "synth", "sample_rate")
             if k in meta}
    extra["roles"] = {sid: meta["stems"][sid].get("role", "") for sid in stems}
    notes.sort(key=lambda n: (n.onset, n.pitch))
    return TrackRecord(tdir.name, "slakh", tdir / "mix.flac", split, stems, notes, list(tags), mixing,
                       classes, extra)


def load_slakh(root: str | Path) -> list[TrackRecord]:
    root = Path(root)
    return [load_slakh_track(d, split) for d, split in _slakh_track_dirs(root)]


# --- MUSDB18-HQ -----------------------------------------------------------------------------

def load_musdb(root: str | Path) -> list[TrackRecord]:
    root = Path(root)
    records = []
    for split in ("train", "test"):
        if not (root / split).is_dir():
            continue
        for song in sorted((root / split).iterdir()):
            if not (song / "mixture.wav").exists():
                continue
            stems = {s: song / f"{s}.wav" for s in MUSDB_STEMS if (song / f"{s}.wav").exists()}
            records.append(TrackRecord(song.name, "musdb", song / "mixture.wav", split, stems,
                                       stem_classes={s: s for s in stems}))
    return records


# --- MAESTRO --------------------------------------------------------------------------------

def load_maestro(root: str | Path) -> list[TrackRecord]:
    root = Path(root)
    csvs = sorted(root.glob("maestro-v*.csv"))
    if not csvs:
        raise DatasetError(f"{root}: no maestro-v*.csv found (expected the MAESTRO layout)")
    records = []
    with open(csvs[-1], newline="") as f:
        for row in csv.DictReader(f):
            audio, midi = root / row["audio_filename"], root / row["midi_filename"]
            notes = midi_notes(midi, "piano") if midi.exists() else []
            tags = ["piano", f"composer:{row.get('canonical_composer', '').strip()}"]
            records.append(TrackRecord(Path(row["audio_filename"]).stem, "maestro", audio,
                                       row.get("split", "train"), {}, notes, tags,
                                       extra={"title": row.get("canonical_title", ""),
                                              "year": row.get("year", "")}))
    return records


# --- MagnaTagATune --------------------------------------------------------------------------

def mtat_split(mp3_path: str) -> str:
    folder = mp3_path.split("/", 1)[0].lower()
    return "train" if folder in set("0123456789ab") else ("validation" if folder == "c" else "test")


def load_mtat(root: str | Path, top_n: int = 50) -> list[TrackRecord]:
    root = Path(root)
    ann = root / "annotations_final.csv"
    if not ann.exists():
        raise DatasetError(f"{root}: no annotations_final.csv (expected the MagnaTagATune layout)")
    with open(ann, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or "mp3_path" not in rows[0]:
        raise DatasetError(f"{ann}: missing the 'mp3_path' column; is it tab-separated?")
    tag_cols = [c for c in rows[0] if c not in ("clip_id", "mp3_path")]
    counts = {t: sum(r[t] == "1" for r in rows) for t in tag_cols}
    top = sorted(tag_cols, key=lambda t: (-counts[t], t))[:top_n]
    audio_dir = root / "mp3" if (root / "mp3").is_dir() else root
    return [TrackRecord(r["clip_id"], "mtat", audio_dir / r["mp3_path"], mtat_split(r["mp3_path"]),
                        tags=[t for t in top if r[t] == "1"], extra={"tag_vocabulary": top})
            for r in rows]


# --- detection ------------------------------------------------------------------------------

LOADERS: dict[str, Callable[[Path], list[TrackRecord]]] = {
    "slakh": load_slakh, "musdb": load_musdb, "maestro": load_maestro, "mtat": load_mtat,
}


def detect_layout(root: str | Path) -> str | None:
    """Name of the layout ``root`` is in, or None for a plain folder of audio."""
    root = Path(root)
    if not root.is_dir():
        return None
    if any(root.glob("maestro-v*.csv")):
        return "maestro"
    if (root / "annotations_final.csv").exists():
        return "mtat"
    if any(root.glob("*/metadata.yaml")) or any(root.glob("*/Track*/metadata.yaml")):
        return "slakh"
    if any(root.glob("*/*/mixture.wav")):
        return "musdb"
    return None


def open_dataset(root: str | Path, layout: str | None = None) -> list[TrackRecord]:
    """Records of a dataset folder; the layout is detected unless given."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    layout = layout or detect_layout(root)
    if layout is None:
        raise DatasetError(f"{root}: not in a known layout ({', '.join(LOADERS)})")
    if layout not in LOADERS:
        raise DatasetError(f"unknown layout {layout!r}; choose one of {', '.join(LOADERS)}")
    return LOADERS[layout](root)
