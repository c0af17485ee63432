"""Loaders read each standard layout (fixtures written here in that exact layout) into one record type."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from downstream.data.layouts import DatasetError, detect_layout, load_mtat, open_dataset
from tests.conftest import sine


def _midi(path, notes, program=0):
    midi = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program)
    inst.notes = [pretty_midi.Note(90, p, s, e) for s, e, p in notes]
    midi.instruments.append(inst)
    midi.write(str(path))


def test_musdb18hq(tmp_path):
    for split, songs in (("train", ["A Song", "B Song"]), ("test", ["C Song"])):
        for song in songs:
            d = tmp_path / split / song
            d.mkdir(parents=True)
            for name in ("mixture", "drums", "bass", "other", "vocals"):
                sf.write(str(d / f"{name}.wav"), sine(0.5, 44100, channels=2), 44100)
    assert detect_layout(tmp_path) == "musdb"
    records = open_dataset(tmp_path)
    assert [(r.track_id, r.split) for r in records] == [("A Song", "train"), ("B Song", "train"),
                                                         ("C Song", "test")]
    assert set(records[0].stems) == {"drums", "bass", "other", "vocals"}
    assert records[0].load_mix(22050).shape == (1, 11025)
    assert records[0].notes == [] and records[0].mixing == {}


def test_maestro(tmp_path):
    (tmp_path / "2018").mkdir()
    rows = []
    for i, split in enumerate(["train", "validation", "test"]):
        stem = f"2018/MIDI-Unprocessed_{i}"
        sf.write(str(tmp_path / f"{stem}.wav"), sine(1.0, 16000, channels=2), 16000)
        _midi(tmp_path / f"{stem}.midi", [(0.1, 0.5, 60 + i), (0.2, 0.9, 64)])
        rows.append({"canonical_composer": "Frédéric Chopin", "canonical_title": f"Etude {i}", "split": split,
                     "year": "2018", "midi_filename": f"{stem}.midi", "audio_filename": f"{stem}.wav",
                     "duration": "1.0"})
    with open(tmp_path / "maestro-v3.0.0.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert detect_layout(tmp_path) == "maestro"
    records = open_dataset(tmp_path)
    assert [r.split for r in records] == ["train", "validation", "test"]
    notes = records[1].notes_array()
    np.testing.assert_allclose(notes, [[0.1, 0.5, 61], [0.2, 0.9, 64]], atol=1e-3)
    assert "piano" in records[0].tags
    assert records[2].load_mix().shape == (1, 16000)


def test_magnatagatune(tmp_path):
    tags = ["guitar", "classical", "slow", "techno", "rare"]
    clips = [("2", "0/clip-a.mp3", [1, 1, 0, 0, 0]), ("6", "c/clip-b.mp3", [1, 0, 1, 0, 0]),
             ("9", "f/clip-c.mp3", [0, 1, 1, 1, 1])]
    with open(tmp_path / "annotations_final.csv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["clip_id", *tags, "mp3_path"])
        for cid, path, labels in clips:
            w.writerow([cid, *labels, path])
            (tmp_path / "mp3" / path).parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(tmp_path / "mp3" / path), sine(0.5, 16000), 16000, format="MP3")
    assert detect_layout(tmp_path) == "mtat"
    records = open_dataset(tmp_path)
    assert [r.split for r in records] == ["train", "validation", "test"]
    assert records[0].tags == ["classical", "guitar"]  # most frequent first
    top2 = load_mtat(tmp_path, top_n=2)
    assert top2[2].tags == ["classical"]
    assert records[2].load_mix(16000).shape[0] == 1


def test_slakh_split_folders(tmp_path, rendered_corpus):
    # real Slakh2100 keeps tracks in train/validation/test folders and lists unrendered stems
    for split, track in (("train", "Track00001"), ("validation", "Track00002"), ("test", "Track00003")):
        shutil.copytree(rendered_corpus / track, tmp_path / "slakh2100" / split / track)
    meta_path = tmp_path / "slakh2100/train/Track00001/metadata.yaml"
    meta_path.write_text(meta_path.read_text().replace("stems:\n", "stems:\n  S99:\n    audio_rendered: false\n"
                                                       "    inst_class: Guitar\n", 1))
    root = tmp_path / "slakh2100"
    assert detect_layout(root) == "slakh"
    records = open_dataset(root)
    assert [(r.track_id, r.split) for r in records] == [("Track00001", "train"), ("Track00002", "validation"),
                                                         ("Track00003", "test")]
    assert "S99" not in records[0].stems
    assert records[0].notes and records[0].mixing


def test_rendered_corpus_records(rendered_corpus):
    records = open_dataset(rendered_corpus)
    assert len(records) == 5
    rec = records[0]
    assert set(rec.mixing) == set(rec.stems) and rec.tags
    assert rec.load_stem(next(iter(rec.stems))).shape == (1, 6 * 22050)
    notes = rec.notes_array(include_drums=True)
    assert notes.shape[1] == 3 and np.all(np.diff(notes[:, 0]) >= 0)


def test_unknown_layout(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DatasetError, match="not in a known layout"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(tmp_path / "missing")
