"""Downstream tasks, their metrics, and the resumable low-data experiment runner."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from booster.cli import app
from downstream.experiment import ExperimentConfig, read_results, run_experiment, subset
from downstream.metrics import frame_scores, note_scores, tagging_scores
from downstream.tasks.transcription import FPS, decode_notes, piano_rolls
from downstream.train import TrainConfig

NOTES = [(0.50, 1.00, 60), (0.52, 0.90, 64), (1.20, 1.60, 67), (2.00, 2.50, 48)]
MICRO_FEATURES = ["top.layer2", "mid.layer2"]  # the micro checkpoint's layers are 1 and 2


def test_note_metrics_on_hand_made_cases():
    assert note_scores(NOTES, NOTES) == {"note_f1": 1.0, "note_precision": 1.0, "note_recall": 1.0,
                                         "note_offset_f1": 1.0}
    shifted = [(a + 0.06, b + 0.06, p) for a, b, p in NOTES]  # 60 ms late: outside the 50 ms window
    assert note_scores(NOTES, shifted)["note_f1"] == 0.0
    half = NOTES[:2]
    s = note_scores(NOTES, half)
    assert s["note_precision"] == 1.0 and s["note_recall"] == 0.5 and s["note_f1"] == pytest.approx(2 / 3)
    long_offsets = [(a, b + 1.0, p) for a, b, p in NOTES]  # right onsets, wrong offsets
    s = note_scores(NOTES, long_offsets)
    assert s["note_f1"] == 1.0 and s["note_offset_f1"] == 0.0
    assert note_scores(NOTES, [])["note_f1"] == 0.0


def test_frame_and_tagging_metrics_on_hand_made_cases():
    _, roll = piano_rolls(NOTES, 150)
    assert frame_scores(roll, roll)["frame_f1"] == 1.0
    assert frame_scores(roll, np.zeros_like(roll))["frame_f1"] == 0.0
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert tagging_scores(y, y.astype(float)) == {"roc_auc": 1.0, "pr_auc": 1.0, "tags_scored": 2}
    assert tagging_scores(y, 1.0 - y)["roc_auc"] == 0.0
    const = np.array([[1, 0], [1, 1], [1, 0], [1, 1]])  # tag 0 is always on: undefined AUC, skipped
    assert tagging_scores(const, const.astype(float))["tags_scored"] == 1


def test_decoding_perfect_activations_recovers_the_notes():
    onset, frame = piano_rolls(NOTES, 150)
    decoded = decode_notes(onset, frame)
    assert note_scores(NOTES, decoded)["note_offset_f1"] == 1.0
    assert all(abs(d[0] - r[0]) <= 0.5 / FPS for d, r in zip(decoded, sorted(NOTES), strict=True))


def test_subsets_are_shared_and_seeded():
    tracks = [f"T{i:03d}" for i in range(40)]
    a = subset(tracks, 0.1, 0)
    assert a == subset(tracks, 0.1, 0) and len(a) == 4
    assert a != subset(tracks, 0.1, 1)
    assert len(subset(tracks, 0.01, 0)) == 2 and subset(tracks, 1.0, 2) == tracks


def _cfg(task, corpus, out, ckpt, **kw):
    return ExperimentConfig(task, corpus, out, fractions=[1.0], seeds=1, features=MICRO_FEATURES, model=ckpt,
                            train=TrainConfig(max_steps=6, val_every=3, batch_size=2, crop_frames=100), **kw)


@pytest.mark.parametrize("task,metrics", [("tagging", ("roc_auc", "pr_auc")),
                                          ("transcription", ("note_f1", "note_offset_f1", "frame_f1"))])
def test_each_task_trains_baseline_and_boosted(rendered_corpus, micro_ckpt, tmp_path, task, metrics):
    rows = run_experiment(_cfg(task, rendered_corpus, tmp_path / task, micro_ckpt,
                               variants=["baseline", "boosted", "control"]))
    assert sorted(r["variant"] for r in rows) == ["baseline", "boosted", "control"]
    for r in rows:
        assert int(r["steps"]) > 0
        for m in metrics:
            value = float(r[m])
            assert np.isnan(value) or 0.0 <= value <= 1.0, (m, value)
    by = {r["variant"]: r for r in rows}
    # the boosted model really has the fusion's extra parameters (and the control the same architecture)
    assert int(by["boosted"]["params"]) > int(by["baseline"]["params"])
    assert by["boosted"]["params"] == by["control"]["params"]
    meta = json.loads((tmp_path / task / "inputs.json").read_text())
    assert meta["boost_dim"] == 2 * 32  # two micro prior layers of width 32
    assert (tmp_path / task / "summary.md").read_text().startswith(f"# Low-data experiment: {task}")
    assert (tmp_path / task / "boost.png").stat().st_size > 1000
    if task == "transcription":
        assert "madmom_piano" in meta["reference"] and 0.0 <= meta["reference"]["basic_pitch"]["note_f1"] <= 1.0


def test_runner_resumes_only_missing_cells(rendered_corpus, micro_ckpt, tmp_path):
    cfg = _cfg("tagging", rendered_corpus, tmp_path / "x", micro_ckpt, variants=["baseline", "probe"])
    cfg.seeds = 2
    first = run_experiment(cfg)
    assert len(first) == 4
    results = tmp_path / "x" / "results.csv"
    kept = [r for r in read_results(results) if not (r["variant"] == "probe" and r["seed"] == "1")]
    with open(results, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(kept[0]))
        w.writeheader()
        w.writerows(kept)
    ran = []
    again = run_experiment(cfg, on_cell=ran.append)
    assert [(r["variant"], r["seed"]) for r in ran] == [("probe", 1)]
    assert len(again) == 4
    redo = next(r for r in again if r["variant"] == "probe" and r["seed"] == "1")
    old = next(r for r in first if r["variant"] == "probe" and r["seed"] == "1")
    assert float(redo["best_val_loss"]) == pytest.approx(float(old["best_val_loss"]), rel=1e-4)  # seeded
    cfg.features = ["top.layer1"]
    with pytest.raises(ValueError, match="other settings"):
        run_experiment(cfg)


def test_cli_finetune_and_bad_input(rendered_corpus, micro_ckpt, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["finetune", "tagging", "--data", str(rendered_corpus), "--no-boost", "--out",
                              str(tmp_path / "ft"), "--model", str(micro_ckpt), "--features", ",".join(MICRO_FEATURES),
                              "--max-steps", "4", "--batch-size", "2"])
    assert res.exit_code == 0, res.output
    row = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert row["variant"] == "baseline" and row["steps"] > 0 and row["stopped_by"] == "max_steps"
    res = runner.invoke(app, ["finetune", "dancing", "--data", str(rendered_corpus), "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "unknown task" in res.output
    res = runner.invoke(app, ["experiment", "low-data", "tagging", "--data", str(tmp_path), "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "known layout" in res.output
    res = runner.invoke(app, ["experiment", "low-data", "tagging", "--data", str(rendered_corpus), "--out",
                              str(tmp_path / "e"), "--fractions", "0,2"])
    assert res.exit_code == 2 and "--fractions" in res.output


def test_console_reproduces_the_rendered_mix_and_has_gradients(rendered_corpus):
    import torch

    from booster.audio import load_audio
    from downstream.console import mix
    from downstream.data.layouts import open_dataset

    for rec in open_dataset(rendered_corpus)[:2]:
        sids = sorted(rec.mixing)
        stems = torch.from_numpy(np.stack([load_audio(rec.stems[s], mono=True)[0][0] for s in sids]))[None].double()
        gain = torch.tensor([[rec.mixing[s].gain_db for s in sids]], dtype=torch.float64, requires_grad=True)
        pan = torch.tensor([[rec.mixing[s].pan for s in sids]], dtype=torch.float64, requires_grad=True)
        out, drop = mix(stems, gain, pan)
        target = torch.from_numpy(load_audio(rec.mix_path)[0]).double()
        assert (out[0] - target).abs().max() < 1e-4  # 24-bit files
        assert abs(float(drop[0].detach())) < 1e-3
        out.pow(2).mean().backward()
        assert torch.isfinite(gain.grad).all() and torch.isfinite(pan.grad).all() and gain.grad.abs().sum() > 0
    loud = torch.ones(1, 2, 100) * 0.8
    limited, drop = mix(loud, torch.zeros(1, 2), torch.zeros(1, 2))  # 2 x 0.8 x -3 dB > 0.9: pulled down
    assert limited.abs().max() == pytest.approx(0.9) and float(drop[0]) < 0


def _mix_arrays():
    """Four synthetic mixing tracks: 3 noise stems (+1 padding) each at -24 dB in the mix, except stem 0 of
    t3, 3 dB above; stem 0 panned to 0.5. ``arrays`` as the mixing task's ``prepare_inputs`` makes them."""
    import torch

    from downstream.console import mix
    from downstream.tasks.separation import to_frames

    rng = np.random.default_rng(0)
    arrays = {k: {} for k in ("stems", "spec", "target", "gain", "pan", "mask")}
    for i in range(4):
        stems = np.zeros((4, 22050), np.float32)
        stems[:3] = rng.standard_normal((3, 22050)) * rng.uniform(0.01, 0.2, (3, 1))
        rms_db = 20 * np.log10(np.sqrt(np.mean(stems[:3].astype(np.float64) ** 2, axis=1)))
        gain = np.r_[-24.0 - rms_db, 0.0].astype(np.float32)
        if i == 3:
            gain[0] += 3.0
        mask = np.array([1, 1, 1, 0], np.float32)
        pan = np.array([0.5, 0.0, 0.0, 0.0], np.float32)
        target, drop = mix(torch.from_numpy(stems)[None], torch.from_numpy(gain)[None], torch.from_numpy(pan)[None],
                           torch.from_numpy(mask)[None])
        assert float(drop[0]) == 0.0  # quiet enough for the limiter to stay out of it
        t = f"t{i}"
        arrays["stems"][t], arrays["target"][t] = to_frames(stems), to_frames(target[0].numpy())
        arrays["spec"][t] = rng.standard_normal((len(arrays["stems"][t]), 4, 64)).astype(np.float32)
        arrays["gain"][t], arrays["pan"][t], arrays["mask"][t] = gain, pan, mask
    return arrays


def test_equal_loudness_reference_recovers_the_level_the_mixes_were_made_at():
    from downstream.tasks.mixing import equal_loudness_reference

    arrays = _mix_arrays()
    fitted = equal_loudness_reference(arrays, ["t0", "t1"], ["t2"])  # L = -24 dB exactly: only the pan is off
    assert fitted["gain_mae_db"] < 1e-3 and fitted["pan_mae"] == pytest.approx(0.5 / 3, abs=1e-6)
    off = equal_loudness_reference(arrays, ["t0", "t1"], ["t3"])
    assert off["gain_mae_db"] == pytest.approx(1.0, abs=1e-3)  # 3 dB on one of three real stems
    # no training tracks: each test track's level from the others (t3 moves t2's by 1 dB, t2 leaves t3's)
    loo = equal_loudness_reference(arrays, [], ["t2", "t3"])
    assert loo["gain_mae_db"] == pytest.approx((1.0 + 1.0) / 2, abs=1e-3)
    assert equal_loudness_reference(arrays, ["t0"], []) == {}


def test_a_rule_variant_starts_from_the_rule_and_learns_only_a_correction():
    import torch

    from downstream.tasks.mixing import MixingTask, equal_loudness_reference
    from downstream.train import TrainConfig

    arrays, task = _mix_arrays(), MixingTask()
    _, _, test_ds = task.datasets(arrays, {}, ["t0", "t1", "t3"], ["t2"], ["t2", "t3"], "baseline-rule",
                                  TrainConfig(), 0)
    model, loss_fn, predict = task.build("baseline-rule", {}, arrays)
    with torch.no_grad():  # no correction: the model's own gains are 0 dB
        model.head[-1].weight.zero_()
        model.head[-1].bias.zero_()
    rule = equal_loudness_reference(arrays, ["t0", "t1", "t3"], ["t2", "t3"])
    assert rule["gain_mae_db"] > 0.1  # t3's level pulls the fitted L 0.25 dB up: not trivially 0
    assert task.evaluate(model, predict, test_ds) == pytest.approx(rule, rel=1e-5)
    plain, _, plain_predict = task.build("baseline", {}, arrays)
    with torch.no_grad():
        plain.head[-1].weight.zero_()
        plain.head[-1].bias.zero_()
    _, _, plain_test = task.datasets(arrays, {}, ["t0", "t1", "t3"], ["t2"], ["t2", "t3"], "baseline", TrainConfig(), 0)
    # without the rule, the same zeroed model sets every gain to 0 dB, far from these stems' gains
    assert task.evaluate(plain, plain_predict, plain_test)["gain_mae_db"] > rule["gain_mae_db"] + 2


def test_separation_metrics_on_hand_made_cases():
    from downstream.tasks.separation import csdr, si_sdr

    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 22050)).astype(np.float32)
    assert csdr(ref, ref) > 60 and si_sdr(ref, ref) > 60
    assert csdr(ref, np.zeros_like(ref)) == pytest.approx(0.0, abs=1e-6)  # the MDX cSDR of silence
    assert si_sdr(ref, np.zeros_like(ref)) <= 0.0
    unrelated = rng.standard_normal(ref.shape)
    assert csdr(ref, unrelated) < -2 and si_sdr(ref, unrelated) < -20
    assert csdr(ref, ref + 0.1 * rng.standard_normal(ref.shape)) == pytest.approx(20.0, abs=0.5)


def test_htdemucs_with_injected_booster_features_learns():
    import torch
    import torch.nn.functional as F

    from booster.fusion import inject
    from downstream.tasks.separation import bottleneck_channels, small_htdemucs

    torch.manual_seed(0)
    model = small_htdemucs(segment_s=1.0)
    handle = inject(model, "crosstransformer", 16, mode="add", channels=bottleneck_channels(), at="input")
    t = torch.arange(22050) / 22050
    sources = torch.stack([torch.sin(2 * np.pi * f * t) * 0.2 for f in (80, 220, 440, 880)])  # (4, samples)
    sources = sources[None, :, None].expand(2, 4, 2, -1).clone()
    mix = sources.sum(1)
    feats = torch.randn(2, 50, 16)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(25):
        handle.set(feats)
        loss = F.l1_loss(model(mix), sources)
        opt.zero_grad()
        loss.backward()
        assert model.booster_fusion_crosstransformer[0].proj.weight.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_separation_zero_variant_starts_as_the_baseline_and_still_learns_the_features():
    import torch

    from downstream.tasks.separation import SeparationTask

    task = SeparationTask()
    frames = int(task.segment_s * 50)
    batch = {"mix": torch.randn(1, frames, 2, 441) * 0.1, "boost": torch.randn(1, frames, 24)}
    outs = {}
    for variant in ("baseline", "boosted-zero", "boosted"):
        torch.manual_seed(0)  # the same HTDemucs weights for every variant; the fusion is built after it
        model, _, predict = task.build(variant, {"boost_dim": 24}, {})
        with torch.no_grad():
            outs[variant] = predict(model, batch)
        if variant == "boosted-zero":  # zero at the start, but the features reach the projection's gradient
            predict(model, batch).abs().mean().backward()
            assert model.booster_fusion_crosstransformer[0].proj.weight.grad.abs().sum() > 0
    assert torch.equal(outs["boosted-zero"], outs["baseline"])
    assert not torch.allclose(outs["boosted"], outs["baseline"])


@pytest.mark.parametrize("task,metrics", [("separation", ("sdr", "si_sdr")),
                                          ("mixing", ("gain_mae_db", "pan_mae", "mix_stft"))])
def test_generative_tasks_run_through_the_runner(rendered_corpus, micro_ckpt, tmp_path, task, metrics):
    rows = run_experiment(_cfg(task, rendered_corpus, tmp_path / task, micro_ckpt,
                               variants=["baseline", "boosted", "capacity"]))
    assert sorted(r["variant"] for r in rows) == ["baseline", "boosted", "capacity"]
    by = {r["variant"]: r for r in rows}
    assert by["capacity"]["params"] == by["boosted"]["params"] > by["baseline"]["params"]  # the same fusion
    for r in rows:
        assert int(r["steps"]) > 0
        for m in metrics:
            assert np.isfinite(float(r[m])), (m, r[m])
    if task == "mixing":
        assert all(0 <= float(r["pan_mae"]) <= 2 for r in rows)
        assert "equal_loudness on the same test tracks: gain_mae_db" in (tmp_path / task / "summary.md").read_text()


def _tiny_fit(cfg):
    """A linear model on a task it cannot learn past its first steps (noise targets)."""
    import torch
    from torch import nn

    from downstream.train import CropDataset, WholeTracks, fit

    rng = np.random.default_rng(0)
    tracks = [f"t{i}" for i in range(4)]
    timed = {"x": {t: rng.normal(size=(40, 3)).astype(np.float32) for t in tracks},
             "y": {t: rng.normal(size=(40, 1)).astype(np.float32) for t in tracks}}
    model = nn.Linear(3, 1)

    def loss_fn(m, batch):
        return nn.functional.mse_loss(m(batch["x"]), batch["y"])

    torch.manual_seed(0)
    return fit(model, loss_fn, CropDataset(tracks, timed, crop=20), WholeTracks(tracks[:2], timed), cfg, seed=0)


def test_a_cell_stops_by_patience_when_it_has_converged():
    from downstream.train import TrainConfig

    info = _tiny_fit(TrainConfig(batch_size=4, val_every=2, patience=2, lr=1e-9, max_minutes=2.0))
    # a learning rate that changes nothing: the first validation is the best and two more end the run
    assert info["stopped_by"] == "patience" and info["best_step"] == 2 and info["steps"] == 6


def test_a_cell_stopped_by_the_wall_clock_cap_says_so():
    from downstream.train import TrainConfig

    info = _tiny_fit(TrainConfig(batch_size=4, val_every=2, patience=1000, lr=1e-2, max_minutes=0.02))
    assert info["stopped_by"] == "cap" and 0 < info["steps"] < 10**6


def test_summary_counts_how_cells_stopped():
    from downstream.experiment import convergence_lines

    rows = [{"stopped_by": "patience", "steps": "400", "best_step": "100"},
            {"stopped_by": "cap", "steps": "1000", "best_step": "1000"},
            {"stopped_by": "patience", "steps": "300", "best_step": "50"}]
    (line,) = convergence_lines(rows)
    assert "3 cells; 2 stopped by patience, 1 stopped by cap" in line and "In 1 cells the best step" in line


def test_capacity_control_is_a_fixed_linear_map_of_the_models_own_input(rendered_corpus, micro_ckpt, tmp_path):
    from downstream.inputs import capacity_features

    rng = np.random.default_rng(0)
    spec = {"a": rng.normal(size=(30, 12)).astype(np.float32), "b": rng.normal(size=(20, 12)).astype(np.float32)}
    one, two = capacity_features(spec, 64), capacity_features(spec, 64)
    assert one["a"].shape == (30, 64) and np.array_equal(one["a"], two["a"])  # fixed
    both = capacity_features({"ab": spec["a"][:20] + spec["b"]}, 64)["ab"]
    np.testing.assert_allclose(both, one["a"][:20] + one["b"], rtol=1e-4, atol=1e-4)  # linear: no new information
    # in an experiment: the same fused architecture as the booster, fed the projection of the model's spectrogram
    rows = run_experiment(_cfg("tagging", rendered_corpus, tmp_path / "cap", micro_ckpt,
                               variants=["baseline", "boosted", "capacity"]))
    by = {r["variant"]: r for r in rows}
    assert by["capacity"]["params"] == by["boosted"]["params"] != by["baseline"]["params"]
    arrays = np.load(tmp_path / "cap" / "inputs.npz")
    track = next(k.split("__", 1)[1] for k in arrays.files if k.startswith("boost_capacity__"))
    np.testing.assert_allclose(arrays[f"boost_capacity__{track}"],
                               capacity_features({track: arrays[f"spec__{track}"]}, 64)[track], rtol=1e-5)
    assert "boosted - capacity" in (tmp_path / "cap" / "summary.md").read_text()
    with pytest.raises(ValueError, match="unknown variants"):
        run_experiment(_cfg("mixing", rendered_corpus, tmp_path / "m", micro_ckpt, variants=["probe"]))


def test_basic_pitch_reference_finds_isolated_notes():
    from downstream.tasks.transcription import basic_pitch_notes

    sr = 22050
    audio, reference = np.zeros(sr * 5, np.float32), []
    for onset, offset, pitch in [(0.5, 1.5, 69), (2.0, 3.0, 72), (3.5, 4.5, 64)]:
        t = np.arange(int((offset - onset) * sr)) / sr
        f0 = 440 * 2 ** ((pitch - 69) / 12)
        tone = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in (1, 2, 3)) * np.exp(-1.5 * t)
        audio[int(onset * sr):int(onset * sr) + len(t)] += tone.astype(np.float32)
        reference.append((onset, offset, pitch))
    estimate = basic_pitch_notes(audio, sr)
    assert note_scores(reference, estimate)["note_f1"] > 0.5
    assert {p for _, _, p in estimate} >= {64, 69, 72}
    # at another rate, the same notes
    import soxr

    again = basic_pitch_notes(soxr.resample(audio, sr, 44100).astype(np.float32), 44100)
    assert note_scores(reference, again)["note_f1"] > 0.5


def _mtat_copy(records, folder: Path, tag_columns: list[str] | None = None) -> Path:
    """The given tracks as a MagnaTagATune-layout folder (all in folder ``d``: the test split)."""
    (folder / "mp3" / "d").mkdir(parents=True)
    columns = sorted({t for r in records for t in r.tags}) if tag_columns is None else tag_columns
    lines = ["\t".join(["clip_id", *columns, "mp3_path"])]
    for r in records:
        shutil.copy(r.mix_path, folder / "mp3" / "d" / f"{r.track_id}.flac")
        lines.append("\t".join([r.track_id, *("1" if t in r.tags else "0" for t in columns), f"d/{r.track_id}.flac"]))
    (folder / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_summary_compares_each_variant_with_the_reference(tmp_path):
    from types import SimpleNamespace

    from downstream.experiment import summarise

    task = SimpleNamespace(name="mixing", metrics=("gain_mae_db", "pan_mae"), variants=("baseline", "boosted"),
                           lower_is_better=True)
    rows = [{"fraction": "0.1", "seed": str(s), "variant": v, "train_tracks": "12", "gain_mae_db": str(x),
             "pan_mae": "0.2"}
            for v, xs in (("baseline", (1.4, 1.5, 1.6)), ("boosted", (2.1, 1.9, 2.3))) for s, x in enumerate(xs)]
    meta = {"splits": {"a": "test", "b": "train"}, "reference": {"rule": {"gain_mae_db": 2.0}}}
    summarise(rows, tmp_path, task, meta)
    text = (tmp_path / "summary.md").read_text()
    assert "Each variant minus rule" in text and "| fraction | variant | gain_mae_db |" in text  # pan_mae: no reference
    # baseline: 0.5 below the rule on every seed; boosted: +0.1 on average, below it on one seed of three
    assert "| 0.1 | baseline | -0.500 [-0.748, -0.252], baseline better on 3/3 seeds |" in text
    assert "| 0.1 | boosted | +0.100 [" in text and "boosted better on 1/3 seeds |" in text


def test_evaluate_reproduces_each_cell_and_scores_another_layout(micro_ckpt, tmp_path):
    """`booster evaluate` on a run's own data gives each cell's own test scores (no retraining); on the same
    test tracks in the MagnaTagATune layout it gives them again; bad inputs get one-line errors."""
    from downstream.data.layouts import open_dataset
    from downstream.data.render import RenderConfig, render_corpus
    from downstream.evaluate import evaluate_run

    # 8 tracks, 3 of them test: enough that some tags take both values there and ROC-AUC is defined
    corpus = tmp_path / "corpus"
    render_corpus(corpus, RenderConfig(tracks=8, seconds=4, source="procedural", synth="basic", seed=11))
    ids = sorted(p.name for p in corpus.iterdir() if p.is_dir())
    (corpus / "splits.json").write_text(json.dumps({"train": ids[:4], "validation": ids[4:5], "test": ids[5:]}))
    run = tmp_path / "run"
    rows = run_experiment(_cfg("tagging", corpus, run, micro_ckpt,
                               variants=["baseline", "boosted", "control", "capacity"]))
    own = {(r["variant"], r["seed"]): r for r in rows}
    assert all(np.isfinite(float(r["roc_auc"])) for r in rows)
    test = [r for r in open_dataset(corpus) if r.split == "test"]
    mtat = _mtat_copy(test, tmp_path / "mtat")
    for data, out in ((corpus, tmp_path / "same"), (mtat, tmp_path / "mtat-eval")):
        scored = evaluate_run("tagging", run, data, out)
        assert len(scored) == len(rows) == 4
        for r in scored:
            ref = own[(r["variant"], str(r["seed"]))]
            assert r["test_tracks"] == len(test)
            for m in ("roc_auc", "pr_auc"):
                np.testing.assert_allclose(r[m], float(ref[m]), rtol=1e-5, equal_nan=True)
        assert "(evaluated on another dataset)" in (out / "summary.md").read_text()
        record = json.loads((out / "evaluate.json").read_text())  # enough to summarise merged rows again
        assert sum(s == "test" for s in record["splits"].values()) == len(test) and record["reference"] == {}
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "tagging", "--run", str(tmp_path / "nope"), "--data", str(mtat)])
    assert res.exit_code == 2 and "no such experiment folder" in res.output
    res = runner.invoke(app, ["evaluate", "transcription", "--run", str(run), "--data", str(mtat)])
    assert res.exit_code == 2 and "is a tagging experiment" in res.output
    untagged = _mtat_copy(test, tmp_path / "untagged", tag_columns=["no-such-tag"])
    res = runner.invoke(app, ["evaluate", "tagging", "--run", str(run), "--data", str(untagged)])
    assert res.exit_code == 2 and "no track carries any tag" in res.output
    res = runner.invoke(app, ["evaluate", "tagging", "--run", str(run), "--data", str(mtat),
                              "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert len(read_results(tmp_path / "cli" / "results.csv")) == 4
    # a cell whose weights are gone (trained in another session; weights are not committed): --keep carries its
    # earlier row beside the cells scored now, and refuses rows scored on other tracks
    from downstream.evaluate import EvaluateError
    from downstream.experiment import cell_weights

    earlier = tmp_path / "same" / "results.csv"
    gone = read_results(earlier)[0]
    cell_weights(run, float(gone["fraction"]), int(gone["seed"]), gone["variant"]).unlink()
    merged = evaluate_run("tagging", run, corpus, tmp_path / "kept", keep=earlier)
    assert len(merged) == 4 and merged[0] == gone and read_results(tmp_path / "kept" / "results.csv")[0] == gone
    assert "1 of the 4 rows were kept" in (tmp_path / "kept" / "summary.md").read_text()
    assert len(evaluate_run("tagging", run, corpus, tmp_path / "dropped")) == 3
    other = tmp_path / "other.csv"
    rows = read_results(earlier)
    rows[0]["test_tracks"] = str(len(test) + 1)
    with open(other, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(EvaluateError, match="scored on"):
        evaluate_run("tagging", run, corpus, tmp_path / "other", keep=other)
    res = runner.invoke(app, ["evaluate", "tagging", "--run", str(run), "--data", str(corpus),
                              "--keep", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "no such results file" in res.output


def test_evaluate_transcription_recalibrates_on_the_runs_validation_tracks(rendered_corpus, micro_ckpt, tmp_path):
    """Transcription cells scored again on their own data: the same threshold (chosen on the run's validation
    tracks) and the same note and frame scores, read through the evaluated dataset's own records."""
    from downstream.evaluate import evaluate_run

    rows = run_experiment(_cfg("transcription", rendered_corpus, tmp_path / "run", micro_ckpt,
                               variants=["baseline", "boosted"]))
    scored = {r["variant"]: r for r in evaluate_run("transcription", tmp_path / "run", rendered_corpus,
                                                     tmp_path / "again")}
    for r in rows:
        for m in ("note_f1", "frame_f1", "threshold"):
            np.testing.assert_allclose(scored[r["variant"]][m], float(r[m]), rtol=1e-5, equal_nan=True)


def test_summarise_rewrites_a_stopped_runs_summary_from_its_rows_alone(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    meta = {"key": {"task": "transcription"}, "splits": {"a": "train", "b": "test", "c": "test"}, "reference": {}}
    (run / "inputs.json").write_text(json.dumps(meta))
    fields = ["fraction", "seed", "variant", "train_tracks", "note_f1", "note_offset_f1", "frame_f1", "steps",
              "best_step", "stopped_by"]
    with open(run / "results.csv", "w", newline="") as f:  # as a run stopped after two seeds leaves it
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for s, (base, boost) in enumerate([(0.5, 0.6), (0.4, 0.45)]):
            for v, x in (("baseline", base), ("boosted", boost)):
                w.writerow({"fraction": 0.25, "seed": s, "variant": v, "train_tracks": 60, "note_f1": x,
                            "note_offset_f1": x / 2, "frame_f1": x, "steps": 100, "best_step": 40,
                            "stopped_by": "patience"})
    res = CliRunner().invoke(app, ["experiment", "summarise", "--run", str(run)])
    assert res.exit_code == 0, res.output
    text = (run / "summary.md").read_text()
    assert text.startswith("# Low-data experiment: transcription") and "Test split: 2 tracks" in text
    assert "4 cells; 4 stopped by patience" in text
    assert "| 0.25 | 60 | 0.450 +- 0.071 | 0.525 +- 0.106 |" in text  # note F1, baseline then boosted
    assert "+0.075 [" in text and "boosted better on 2/2 seeds" in text
    assert (run / "boost.png").stat().st_size > 1000

    for args, reason in ([["--run", str(tmp_path / "nope")], "no such experiment folder"],
                         [["--run", str(tmp_path)], "no inputs.json"]):
        res = CliRunner().invoke(app, ["experiment", "summarise", *args])
        assert res.exit_code == 2 and reason in res.output, res.output
    with open(run / "results.csv", "a") as f:  # a row broken by hand
        f.write("0.25,x,baseline,60,0.5,0.25,0.5,100,40,patience\n")
    res = CliRunner().invoke(app, ["experiment", "summarise", "--run", str(run)])
    assert res.exit_code == 2 and "results.csv: a row does not parse" in res.output, res.output
    (run / "results.csv").write_text("")
    res = CliRunner().invoke(app, ["experiment", "summarise", "--run", str(run)])
    assert res.exit_code == 2 and "no finished cells" in res.output
