"""Teacher targets (Basic Pitch's ONNX model, CQT, deep chroma, key, tempo) and stage-2 training with teacher heads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from booster.cli import app
from booster.pretrain import RandomCrops
from booster.teachers import TEACHER_RATE, TEACHER_SPECS, TEMPO_BPM, make_teacher, teacher_targets


def tone(freq: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * TEACHER_RATE)) / TEACHER_RATE
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_basic_pitch_hears_the_note_of_a_tone():
    audio = tone(440.0)  # A4, MIDI 69, key 48 from A0
    y = make_teacher("basic-pitch")(audio)
    assert y.shape == (len(audio) // 256, TEACHER_SPECS["basic-pitch"].channels)
    notes = y[20:-20, :88]
    assert (notes.argmax(axis=1) == 48).mean() > 0.9
    assert notes[:, 48].mean() > 0.5 and np.delete(notes, 48, axis=1).max() < notes[:, 48].mean()
    # a fifth higher moves the posterior with it
    assert np.median(make_teacher("basic-pitch")(tone(659.26))[20:-20, :88].argmax(axis=1)) == 55


def test_cqt_and_chroma_teachers():
    cqt = make_teacher("cqt")(tone(440.0))
    assert cqt.shape[1] == 144 and abs(cqt.shape[0] - 150) <= 1
    np.testing.assert_allclose(cqt.mean(axis=0), 0.0, atol=1e-3)  # z-scored per band
    chroma = make_teacher("chroma")(tone(440.0))
    assert chroma.shape[1] == 12 and chroma[5:-5].mean(axis=0).argmax() == 9  # pitch class A (C = 0)


def cadences(root: int, repeats: int = 3) -> np.ndarray:
    """I-IV-V-I in the major key of MIDI note ``root``, one decaying chord (with its bass an octave down) a second."""
    t = np.arange(TEACHER_RATE) / TEACHER_RATE
    chords = [[0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7]] * repeats
    return np.concatenate([sum(np.sin(2 * np.pi * 440 * 2 ** ((root + m - 69) / 12) * t) * np.exp(-3 * t)
                               for m in [*c, c[0] - 12]) / 4 for c in chords]).astype(np.float32)


def test_key_teacher_names_the_key_of_cadences():
    from madmom.features.key import KEY_LABELS

    for root, name in ((60, "C major"), (67, "G major")):
        y = make_teacher("key")(cadences(root))
        assert y.shape == (6, 24)  # 12 s at one frame per 2 s
        np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-4)  # a distribution over the 24 keys
        assert [KEY_LABELS[k] for k in y.argmax(axis=1)] == [name] * 6


def test_tempo_teacher_finds_the_tempo_of_clicks():
    def clicks(bpm: float, seconds: float = 10.0) -> np.ndarray:
        x = np.zeros(int(seconds * TEACHER_RATE), np.float32)
        for start in np.arange(0, seconds, 60 / bpm):
            a = int(start * TEACHER_RATE)
            x[a:a + 300] = 0.5 * np.sin(np.arange(len(x[a:a + 300])) * 0.6)
        return x

    for bpm in (80.0, 150.0):
        y = make_teacher("tempo")(clicks(bpm))
        assert y.shape == (10, len(TEMPO_BPM)) and y.max() == pytest.approx(1.0)
        found = TEMPO_BPM[y[2:-2].argmax(axis=1)]  # windows away from the edges
        assert np.all(np.abs(np.log2(found / bpm)) < 0.08), (bpm, found)
    assert make_teacher("tempo")(clicks(120.0, 3.0)).shape == (3, len(TEMPO_BPM))  # shorter than a window


def test_teacher_targets_are_cached(tmp_path, monkeypatch):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"x")  # only its path, size and mtime key the cache
    audio = tone(220.0, 1.0)
    first = teacher_targets([wav], [audio], ["cqt"], tmp_path / "cache")
    monkeypatch.setattr("booster.teachers.make_teacher", lambda name: pytest.fail("teacher ran again"))
    again = teacher_targets([wav], [audio], ["cqt"], tmp_path / "cache")
    np.testing.assert_array_equal(first[0]["cqt"], again[0]["cqt"])


def test_crops_carry_teacher_targets_on_the_grid():
    clips = [np.arange(20_000, dtype=np.float32)]
    grid = [{"t": np.arange(20_000 // 128 + 1, dtype=np.float32)[:, None]}]
    crops = RandomCrops(clips, 1024, seed=1, targets=grid, hop=128)
    for i in range(5):
        item = crops[i]
        start = int(item["audio"][0])
        assert start % 128 == 0 and item["teachers"]["t"].shape == (8, 1)
        assert item["teachers"]["t"][0, 0] == start // 128


def test_pretrain_priors_only_with_teacher_heads(rendered_corpus, micro_ckpt, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["pretrain", str(rendered_corpus), "--out", str(out), "--init", str(micro_ckpt),
                                   "--stage1-minutes", "0", "--minutes", "0.15", "--batch-size", "2",
                                   "--glob", "*/mix.flac", "--teachers", "cqt", "--prior-levels", "top,mid",
                                   "--teacher-delay", "2", "--bidirectional-levels", "top"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "training.json").read_text())
    saved = json.loads((out / "config.json").read_text())["model"]
    # the heads read 2 top frames late, so the checkpoint's features are read there too; the top prior
    # trained as a bidirectional masked-token model, and the checkpoint says so
    assert summary["teacher_delay"] == 2 and saved["feature_delay"] == 2
    assert summary["bidirectional_levels"] == saved["bidirectional_levels"] == ["top"]
    assert summary["teachers"] == ["cqt"] and summary["prior_levels"] == ["top", "mid"]
    assert summary["stage2_steps"] > 0 and summary["stage1_steps"] == 0
    before, after = load_file(str(micro_ckpt / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(after) == set(before)  # teacher heads are training-only: not in the booster checkpoint
    for key in before:
        if key.startswith("codec.") or key.startswith("priors.fine."):
            torch.testing.assert_close(after[key], before[key], msg=key)  # untouched
    assert not torch.equal(after["priors.top.head.weight"], before["priors.top.head.weight"])
    logged = next((out / "logs" / "stage2").rglob("metrics.csv")).read_text()
    assert "stage2/top_cqt" in logged and "stage2/mid_cqt" in logged and "stage2/fine_nll" not in logged
    assert len(list((out / "teacher-cache").glob("*-cqt.npy"))) == summary["clips_used"]


def test_pretrain_refuses_unknown_teachers_and_levels(rendered_corpus, micro_ckpt, tmp_path):
    base = ["pretrain", str(rendered_corpus), "--out", str(tmp_path / "r"), "--init", str(micro_ckpt),
            "--stage1-minutes", "0", "--minutes", "0.1"]
    res = CliRunner().invoke(app, base + ["--teachers", "mert"])
    assert res.exit_code == 2 and "unknown teachers" in res.output
    res = CliRunner().invoke(app, base + ["--bidirectional-levels", "fine", "--prior-levels", "top"])
    assert res.exit_code == 2 and "would not be trained" in res.output
    res = CliRunner().invoke(app, base + ["--teacher-delay", "4"])
    assert res.exit_code == 2 and "--teacher-delay" in res.output and "needs --teachers" in res.output
    res = CliRunner().invoke(app, base + ["--prior-levels", "top,bass"])
    assert res.exit_code == 2 and "unknown prior levels" in res.output
    res = CliRunner().invoke(app, ["pretrain", str(rendered_corpus), "--out", str(tmp_path / "r2"),
                                   "--stage1-minutes", "0", "--minutes", "0.1"])
    assert res.exit_code == 2 and "--stage1-minutes" in res.output


def test_paired_crops_share_a_clip():
    clips = [np.full(5000, float(k), dtype=np.float32) for k in range(6)]
    crops = RandomCrops(clips, 512, seed=2, pairs=True)
    same = [crops[2 * j][0] == crops[2 * j + 1][0] for j in range(20)]
    assert all(same)
    assert len({float(crops[2 * j][0]) for j in range(20)}) > 2  # pairs come from different clips
    ramp = [np.arange(5000, dtype=np.float32)]
    paired = RandomCrops(ramp, 512, seed=2, pairs=True)
    assert not torch.equal(paired[0], paired[1])  # two crops, not one crop twice


def test_contrastive_stage2(rendered_corpus, micro_ckpt, tmp_path):
    out = tmp_path / "run"
    base = ["pretrain", str(rendered_corpus), "--out", str(out), "--init", str(micro_ckpt),
            "--stage1-minutes", "0", "--minutes", "0.1", "--glob", "*/mix.flac", "--contrastive-weight", "1"]
    res = CliRunner().invoke(app, base + ["--batch-size", "3"])
    assert res.exit_code == 2 and "must be even" in res.output
    res = CliRunner().invoke(app, base + ["--batch-size", "4", "--stage2-crop-seconds", "1.5"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["contrastive_weight"] == 1.0 and abs(summary["stage2_crop_seconds"] - 1.5) < 0.01
    logged = next((out / "logs" / "stage2").rglob("metrics.csv")).read_text()
    assert "stage2/top_contrastive" in logged and "stage2/mid_contrastive" in logged


def test_contrastive_loss_prefers_matching_pairs(micro_ckpt):
    from booster.checkpoint import load_checkpoint
    from hqvae.lightning import Stage2Module

    module = Stage2Module(load_checkpoint(micro_ckpt), contrastive_weight=1.0)
    z = torch.randn(4, 16)
    matched = torch.stack([z[0], z[0], z[1], z[1]])
    shuffled = torch.stack([z[0], z[1], z[0], z[1]])
    assert module.contrastive_loss(matched) < module.contrastive_loss(shuffled)


def test_hard_basic_pitch_targets_come_from_the_cached_posteriors(tmp_path, monkeypatch):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"x")
    audio = tone(440.0, 2.0)
    (soft,) = teacher_targets([wav], [audio], ["basic-pitch"], tmp_path / "cache")
    monkeypatch.setattr("booster.teachers.make_teacher", lambda name: pytest.fail("teacher ran again"))
    (hard,) = teacher_targets([wav], [audio], ["basic-pitch-notes"], tmp_path / "cache")
    y = hard["basic-pitch-notes"]
    assert set(np.unique(y)) <= {0.0, 1.0} and y.shape == soft["basic-pitch"].shape
    np.testing.assert_array_equal(y[:, :88], soft["basic-pitch"][:, :88] > 0.3)
    assert y[20:-20, 48].mean() > 0.9 and y[:, :88].sum() < 1.2 * y[:, 48].sum()
