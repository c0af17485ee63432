"""`booster probe`: the linear probes, the probe set's labels, and the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from booster.cli import app
from downstream.data.records import Note, TrackRecord
from downstream.probe.linear import (
    FrameProbe,
    best_threshold,
    frame_f1,
    per_tag_auc,
    pooled,
    select_c,
    tag_auc,
)
from downstream.probe.probe_set import frame_labels


def test_frame_probe_finds_a_linear_signal_and_not_noise():
    rng = np.random.default_rng(0)
    y = (rng.random((6000, 5)) < 0.2).astype(np.float32)
    mix = rng.normal(size=(5, 12))  # labels spread over 12 dims, plus noise dims
    x = np.concatenate([y @ mix + 0.3 * rng.normal(size=(6000, 12)), rng.normal(size=(6000, 8))], axis=1)
    probe = FrameProbe().fit(x[:4000], y[:4000])
    thr = best_threshold(probe.predict(x[4000:5000]), y[4000:5000])
    assert frame_f1(probe.predict(x[5000:]), y[5000:], thr) > 0.95
    noise = FrameProbe().fit(x[:4000, 12:], y[:4000])
    thr = best_threshold(noise.predict(x[4000:5000, 12:]), y[4000:5000])
    assert frame_f1(noise.predict(x[5000:, 12:]), y[5000:], thr) < 0.4  # about the all-positive F1 of 0.33


def test_tag_auc_separates_informative_from_noise():
    rng = np.random.default_rng(1)
    tags = (rng.random((60, 4)) < 0.5).astype(np.float32)
    informative = tags @ rng.normal(size=(4, 10)) + 0.5 * rng.normal(size=(60, 10))
    train, test = list(range(30)), list(range(30, 60))
    assert tag_auc(informative, tags, train, test) > 0.9
    assert abs(tag_auc(rng.normal(size=(60, 10)), tags, train, test) - 0.5) < 0.2
    # pooling: mean and std over time per track
    frames = [np.stack([np.arange(4.0), 2 * np.arange(4.0)], axis=1)]
    np.testing.assert_allclose(pooled(frames), [[1.5, 3.0, np.std(np.arange(4.0)), 2 * np.std(np.arange(4.0))]])


def test_wide_tag_regressions_solved_in_the_training_span_score_as_in_full():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    tags = (rng.random((40, 2)) < 0.5).astype(np.float32)
    x = np.concatenate([tags @ rng.normal(size=(2, 30)), rng.normal(size=(40, 400))], axis=1)  # 430 wide, 20 tracks
    train, test = list(range(20)), list(range(20, 40))
    scaler = StandardScaler().fit(x[train])
    full = [roc_auc_score(tags[test, k], LogisticRegression(C=0.1, max_iter=5000, tol=1e-8)
                          .fit(scaler.transform(x[train]), tags[train, k]).decision_function(scaler.transform(x[test])))
            for k in range(2)]
    np.testing.assert_allclose(per_tag_auc(x, tags, train, test, c=0.1), full, atol=0.01)
    # a constant representation (a dead layer of the random control) scores chance, not an error
    assert tag_auc(np.ones((40, 430)), tags, train, test) == 0.5
    assert select_c(np.ones((40, 430)), tags, train, (0.1, 1.0)) == 0.1


def test_select_c_chooses_by_cross_validation_on_the_labelled_tracks_only():
    # The label is x0 - x1, buried in noise both share: only a weakly penalised regression finds that
    # direction; a strong penalty leans to the mean difference (x0 alone), which the shared noise drowns.
    rng = np.random.default_rng(2)
    tags = (rng.random((80, 3)) < 0.5).astype(np.float32)
    shared = 3 * rng.normal(size=(80, 3))
    x = np.concatenate([tags + shared + 0.05 * rng.normal(size=(80, 3)), shared], axis=1)
    labelled, test = list(range(24)), list(range(24, 80))
    assert tag_auc(x, tags, labelled, test, c=100.0) > 0.95 > 0.8 > tag_auc(x, tags, labelled, test, c=1e-4)
    assert select_c(x, tags, labelled, (1e-4, 100.0)) == 100.0
    assert select_c(x, tags, labelled, (1e-4,)) == 1e-4
    # nothing outside the labelled tracks is read: NaN there changes nothing
    x_hidden, tags_hidden = x.copy(), tags.copy()
    x_hidden[24:], tags_hidden[24:] = np.nan, np.nan
    assert select_c(x_hidden, tags_hidden, labelled, (1e-4, 100.0)) == 100.0


def test_frame_labels_from_notes():
    notes = [Note(0.1, 0.3, 60, stem="S00"), Note(0.2, 0.25, 36, is_drum=True, stem="S01"),
             Note(5.0, 6.0, 61, stem="S00")]  # the last starts after the clip: ignored
    rec = TrackRecord("t", "slakh", mix_path=None, notes=notes, stem_classes={"S00": "Piano", "S01": "Drums"})
    lab = frame_labels(rec, 25, ["Bass", "Drums", "Piano"])
    assert lab["pitch"].shape == (25, 88) and lab["onset"].shape == (25, 1) and lab["instrument"].shape == (25, 3)
    assert lab["pitch"][5:15, 60 - 21].all() and lab["pitch"][:5].sum() == 0 and lab["pitch"][15:].sum() == 0
    assert lab["pitch"][:, 36 - 21].sum() == 0  # drums are not pitches
    assert np.flatnonzero(lab["onset"][:, 0]).tolist() == [5, 10]  # drum onsets count
    assert lab["instrument"][5:15, 2].all() and lab["instrument"][10:12, 1].all() and lab["instrument"][:, 1].sum() == 2
    assert lab["instrument"][:, 0].sum() == 0 and lab["instrument"][15:].sum() == 0


@pytest.fixture(scope="module")
def probe_run(micro_ckpt, tmp_path_factory):
    work = tmp_path_factory.mktemp("probe")
    args = ["probe", "--model", str(micro_ckpt), "--work-dir", str(work), "--tracks-per-subset", "7",
            "--seconds", "3", "--synths", "basic", "--test-tracks", "5", "--val-tracks", "3",
            "--tag-sizes", "4,6", "--tag-repeats", "2", "--tag-c", "cv", "--out", str(work / "r.json"),
            "--markdown", str(work / "r.md")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return work, args, res.output


def test_probe_command_scores_every_representation(probe_run, micro_ckpt):
    work, _, output = probe_run
    r = json.loads((work / "r.json").read_text())
    names = [f"{lv}.{k}" for lv in ("top", "mid") for k in ("embedding", "layer1", "layer2")]
    expected = {"logmel", "semitone", "booster:all", "random:all", "semitone+booster", "logmel+booster",
                "semitone+random"} | {f"booster:{n}" for n in names} | {f"random:{n}" for n in names}
    assert set(r["tags"]) == expected and set(r["frame"]) == expected
    assert r["probe_set"]["tracks"] == 14 and r["probe_set"]["splits"] == {"test": 5, "val": 3, "train": 6}
    assert r["dims"]["booster:all"] == sum(r["dims"][f"booster:{n}"] for n in names)
    assert r["dims"]["semitone+booster"] == r["dims"]["semitone"] + r["dims"]["booster:all"]
    for name in expected:
        assert len(r["tags"][name]["4"]) == 2 and len(r["tags"][name]["6"]) == 2
        assert all(c in r["config"]["tag_c_grid"] for c in r["tag_c"][name]["4"] + r["tag_c"][name]["6"])
        for task in ("pitch", "onset", "instrument"):
            assert 0.0 <= r["frame"][name][task]["f1"] <= 1.0 and 0.0 <= r["frame"][name][task]["val_f1"] <= 1.0
            assert len(r["frame"][name][task]["per_track"]) == 5
    # the semitone spectrogram exposes pitch to a linear layer even on this tiny set
    assert r["frame"]["semitone"]["pitch"]["f1"] > 0.3 and r["frame"]["semitone"]["pitch"]["val_f1"] > 0.3
    assert [c["met"] for c in r["checks"]] and r["checks"][0]["probe"] == "tags@4"
    assert r["checkpoint"]["path"] == str(micro_ckpt)
    assert "semitone+booster" in (work / "r.md").read_text() and "linear probes" in output


def test_probe_reuses_renders_and_features(probe_run):
    work, args, _ = probe_run
    cached = sorted((work / "cache").glob("features-*.npz"))
    assert len(cached) == 2  # the checkpoint and its random-weights control
    stamps = [p.stat().st_mtime_ns for p in cached]
    first = json.loads((work / "r.json").read_text())
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    again = json.loads((work / "r.json").read_text())
    assert again["frame"]["booster:all"]["pitch"]["f1"] == first["frame"]["booster:all"]["pitch"]["f1"]


def test_probe_refuses_bad_options(tmp_path):
    res = CliRunner().invoke(app, ["probe", "--model", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "nope" in res.output
    res = CliRunner().invoke(app, ["probe", "--synths", "piano"])
    assert res.exit_code == 2 and "--synths" in res.output
    res = CliRunner().invoke(app, ["probe", "--tracks-per-subset", "10", "--synths", "basic"])
    assert res.exit_code == 2 and "cannot hold" in res.output
    for bad in ("0", "-1", "lots"):
        res = CliRunner().invoke(app, ["probe", "--tag-c", bad, "--synths", "basic"])
        assert res.exit_code == 2 and "--tag-c" in res.output, bad
