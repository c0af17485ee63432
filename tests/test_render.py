"""The rendered corpus: deterministic, stems sum to the mix, notes sit where their sound is."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from booster.cli import app
from downstream.data.compose import ENSEMBLES, ROLE_PROGRAMS, Part
from downstream.data.layouts import load_slakh
from downstream.data.records import Note
from downstream.data.render import RenderConfig, apply_mix, make_splits, render_corpus
from downstream.data.synth import fluidsynth_available, render_part

HAVE_FLUIDSYNTH = fluidsynth_available()[0]
SYNTHS = ["basic"] + (["fluidsynth"] if HAVE_FLUIDSYNTH else [])


def frame_rms(x: np.ndarray, sr: int, win_s: float = 0.005) -> np.ndarray:
    n = max(1, int(win_s * sr))
    return np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(n) / n, mode="same"))


def test_cli_render_is_deterministic(tmp_path):
    runner = CliRunner()
    for name in ("a", "b"):
        res = runner.invoke(app, ["data", "render", str(tmp_path / name), "--tracks", "4", "--seconds", "8",
                                  "--seed", "0"])
        assert res.exit_code == 0, res.output
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 4 * 5
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    # another seed gives other music
    runner.invoke(app, ["data", "render", str(tmp_path / "c"), "--tracks", "1", "--seconds", "8", "--seed", "1"])
    assert (tmp_path / "c/Track00001/mix.flac").read_bytes() != (tmp_path / "a/Track00001/mix.flac").read_bytes()


def test_cli_rejects_bad_options(tmp_path):
    runner = CliRunner()
    for args in (["--tracks", "0"], ["--synth", "casio"], ["--source", "radio"], ["--seconds", "0"]):
        res = runner.invoke(app, ["data", "render", str(tmp_path / "x"), *args])
        assert res.exit_code == 2
        assert "error:" in res.output and len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("synth", SYNTHS)
@pytest.mark.parametrize("source", ["procedural", "music21"])
def test_stems_sum_to_mix_and_notes_are_heard(tmp_path, synth, source):
    render_corpus(tmp_path, RenderConfig(tracks=2, seconds=6, source=source, synth=synth, seed=11))
    records = load_slakh(tmp_path)
    assert len(records) == 2
    for rec in records:
        mix, sr = sf.read(str(rec.mix_path), always_2d=True)
        assert mix.shape[1] == 2 and sr == 22050
        stems = [sf.read(str(p))[0] for p in rec.stems.values()]
        params = [rec.mixing[s] for s in rec.stems]
        assert np.abs(apply_mix(stems, params) - mix.T).max() < 1e-4
        assert np.abs(mix).max() <= 0.9 + 1e-4
        # every note starts where its stem is sounding (not silent relative to the stem's peak)
        for sid, path in rec.stems.items():
            audio, _ = sf.read(str(path))
            env = frame_rms(audio, sr)
            threshold = 1e-3 * env.max()
            notes = [n for n in rec.notes if n.stem == sid]
            assert notes, sid
            for n in notes:
                a, b = int(n.onset * sr), int(min(n.offset, n.onset + 0.05) * sr)
                assert env[a:b + 1].max() > threshold, (rec.track_id, sid, n)


@pytest.mark.parametrize("synth", SYNTHS)
def test_isolated_note_onsets_match_midi(synth):
    """Audio onset (first 5 ms frame above -40 dB of the note's peak) within 20 ms of the MIDI onset."""
    sr = 22050
    programs = sorted(set(sum(ROLE_PROGRAMS.values(), []) + sum(ENSEMBLES.values(), [])))
    cases = [(p, False, pitch) for p in programs for pitch in (40, 64, 84)]
    cases += [(0, True, pitch) for pitch in (36, 38, 42, 46, 49)]
    for program, is_drum, pitch in cases:
        onset = 0.5
        part = Part("x", "lead", program, is_drum, [Note(onset, onset + 0.4, pitch, 90, program, is_drum, "x")])
        audio = render_part(part, 2.0, sr, synth)
        env = frame_rms(audio, sr)
        first = np.argmax(env > 0.01 * env.max()) / sr
        assert abs(first - onset) <= 0.020, (synth, program, is_drum, pitch, first)


def test_metadata_has_slakh_fields_and_our_extras(rendered_corpus):
    meta = yaml.safe_load((rendered_corpus / "Track00001" / "metadata.yaml").read_text())
    for key in ("UUID", "audio_dir", "midi_dir", "stems", "tags", "mixing", "tempo", "key"):
        assert key in meta
    for sid, stem in meta["stems"].items():
        for key in ("inst_class", "program_num", "is_drum", "plugin_name", "audio_rendered", "gain_db", "pan"):
            assert key in stem
        assert (rendered_corpus / "Track00001" / "MIDI" / f"{sid}.mid").exists()
        assert -1 <= stem["pan"] <= 1
    assert (rendered_corpus / "Track00001" / "all_src.mid").exists()
    assert 70 <= meta["tempo"] <= 170
    tags = meta["tags"]
    assert any(t.startswith("tempo:") for t in tags) and any(t.startswith("mode:") for t in tags)
    assert "source:procedural" in tags


def test_music21_tracks_are_real_scores(rendered_corpus):
    rec = {r.track_id: r for r in load_slakh(rendered_corpus)}["Track00004"]
    assert "source:music21" in rec.tags and rec.extra["title"]
    assert len(rec.stems) >= 3  # chorales have four voices
    assert len(rec.notes) > 10


def test_splits_cover_tracks_once():
    ids = [f"Track{i:05d}" for i in range(1, 51)]
    splits = make_splits(ids, seed=0)
    flat = sum(splits.values(), [])
    assert sorted(flat) == ids
    assert len(splits["test"]) == 5 and len(splits["validation"]) == 5
    assert splits == make_splits(ids, seed=0) and splits != make_splits(ids, seed=1)


def test_splits_file_written(rendered_corpus):
    splits = json.loads((rendered_corpus / "splits.json").read_text())
    assert sorted(sum(splits.values(), [])) == [f"Track{i:05d}" for i in range(1, 6)]
    by_id = {r.track_id: r.split for r in load_slakh(rendered_corpus)}
    for split, ids in splits.items():
        assert all(by_id[i] == split for i in ids)
