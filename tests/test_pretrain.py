"""`booster pretrain` end to end on a tiny corpus, its resume, and the Booster API on its checkpoint."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from booster import Booster
from booster.cli import app
from booster.extract import concat_outputs
from booster.pretrain import RandomCrops, steps_done


@pytest.fixture(scope="module")
def micro_checkpoint(rendered_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "micro"
    res = CliRunner().invoke(app, ["pretrain", str(rendered_corpus), "--out", str(out), "--config", "micro",
                                   "--minutes", "0.3", "--stage1-minutes", "0.2", "--batch-size", "4",
                                   "--warmup-steps", "0", "--glob", "*/mix.flac"])
    # no unquantized warm-up: on a loaded machine the 0.2 min of stage 1 may be a single step (one clean-clone
    # run beside two training processes), and the codebook statistics are logged from the first quantized step
    assert res.exit_code == 0, res.output
    return out


def test_pretrain_writes_checkpoint_and_logs(micro_checkpoint):
    summary = json.loads((micro_checkpoint / "training.json").read_text())
    assert summary["stage1_steps"] > 0 and summary["stage2_steps"] > 0
    assert summary["stage1_minutes"] == 0.2  # --stage1-minutes, not 70% of --minutes
    assert summary["clips_used"] > 0 and summary["hours"] > 0
    # --glob kept the 5 mixes and left the stems out
    assert summary["files"] == 5 and summary["glob"] == "*/mix.flac"
    assert (micro_checkpoint / "config.json").exists() and (micro_checkpoint / "model.safetensors").exists()
    logged = next((micro_checkpoint / "logs" / "stage1").rglob("metrics.csv")).read_text()
    for key in ("stage1/top/usage", "stage1/top/perplexity", "stage1/top/variance", "stage1/loss"):
        assert key in logged


def test_resumed_run_goes_on_with_new_crops(micro_checkpoint):
    steps = json.loads((micro_checkpoint / "training.json").read_text())["stage1_steps"]
    assert steps_done(micro_checkpoint / "train" / "stage1-last.ckpt") == steps
    assert steps_done(micro_checkpoint / "train" / "missing.ckpt") == 0
    clips = [np.sin(np.arange(50_000) * f).astype(np.float32) for f in (0.01, 0.02, 0.03)]
    fresh, resumed = RandomCrops(clips, 1024, seed=3), RandomCrops(clips, 1024, seed=3, start=40)
    torch.testing.assert_close(resumed[0], fresh[40])
    assert not torch.equal(resumed[0], fresh[0])


def test_pretrain_resumes_without_redoing_finished_stages(micro_checkpoint):
    before = json.loads((micro_checkpoint / "training.json").read_text())
    res = CliRunner().invoke(app, ["pretrain", str(micro_checkpoint.parent.parent), "--out", str(micro_checkpoint),
                                   "--config", "micro", "--minutes", "0.15"])
    # the audio dir differs, but the finished stage 1 is not trained again and stage 2's budget is spent
    assert res.exit_code == 0, res.output
    after = json.loads((micro_checkpoint / "training.json").read_text())
    assert after["stage1_steps"] == before["stage1_steps"]
    assert after["stage2_steps"] == before["stage2_steps"]


def test_stage1_trained_on_after_stage2_is_kept(micro_checkpoint, rendered_corpus, tmp_path):
    """Continuing stage 1 of a finished run, then resuming stage 2: the final codec is the continued one."""
    from safetensors.torch import load_file

    run = tmp_path / "run"
    shutil.copytree(micro_checkpoint, run)
    (run / "train" / "stage1.done").unlink()
    before = load_file(run / "model.safetensors")["codec.quantizers.0.codebook"]
    # a short warm-up: with the default (100 steps) the continued stage 1 would never reach the codebooks
    res = CliRunner().invoke(app, ["pretrain", str(rendered_corpus), "--out", str(run), "--config", "micro",
                                   "--minutes", "0.6", "--stage1-minutes", "0.4", "--batch-size", "4",
                                   "--warmup-steps", "3", "--glob", "*/mix.flac"])
    assert res.exit_code == 0, res.output
    stage1 = torch.load(run / "train" / "stage1-last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    stage2 = torch.load(run / "train" / "stage2-last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert not any(k.startswith("model.codec.") for k in stage2)  # stage 2 saves the priors only
    final = load_file(run / "model.safetensors")["codec.quantizers.0.codebook"]
    assert not torch.equal(final, before)
    torch.testing.assert_close(final, stage1["model.codec.quantizers.0.codebook"], rtol=0, atol=0)


def test_pretrain_rejects_bad_input(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["pretrain", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "not found" in res.output
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["pretrain", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no audio files" in res.output
    res = runner.invoke(app, ["pretrain", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--config", "huge"])
    assert res.exit_code == 2 and "--config" in res.output
    res = runner.invoke(app, ["pretrain", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                              "--minutes", "10", "--stage1-minutes", "12"])
    assert res.exit_code == 2 and "--stage1-minutes must be > 0" in res.output and "below --minutes" in res.output
    (tmp_path / "empty" / "a.wav").write_bytes(b"")
    res = runner.invoke(app, ["pretrain", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--glob", "*/mix.flac"])
    assert res.exit_code == 2 and "no audio files found matching '*/mix.flac'" in res.output


def test_pretrain_device_checked_like_cache(rendered_corpus, tmp_path, monkeypatch):
    """`pretrain` and `cache` share one --device check: a malformed name, or a GPU torch cannot see, is one line
    that says what to do instead, before any training or output."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    runner = CliRunner()
    for device, says in (("cuda", "torch sees 0 CUDA device(s)"), ("cuda:0", "train with --device cpu"),
                         ("tpu", "--device must be cpu, cuda or cuda:N"), ("cuda:x", "got 'cuda:x'")):
        res = runner.invoke(app, ["pretrain", str(rendered_corpus), "--out", str(tmp_path / "o"), "--config", "micro",
                                  "--device", device])
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, (device, res.output)
    assert not (tmp_path / "o").exists()


def test_booster_extracts_tokens_and_features(micro_checkpoint):
    b = Booster.from_pretrained(micro_checkpoint)
    rng = np.random.default_rng(0)
    stereo_44k = rng.uniform(-0.3, 0.3, (2, 44100)).astype(np.float32)
    out = b.extract(stereo_44k, 44100)
    assert list(out.tokens) == ["top", "mid", "fine"]
    assert out.tokens["top"].dtype == torch.long
    # one second at 22050 Hz: ceil(22050 / hop) frames per level
    assert out.tokens["top"].shape == (173,) and out.tokens["fine"].shape == (2757,)
    assert set(out.features) == set(b.feature_names())
    for name, feats in out.features.items():
        level = name.split(".")[0]
        assert feats.shape[0] == out.tokens[level].shape[0]
        assert out.frame_rates[name] == pytest.approx(22050 / {"top": 128, "mid": 32, "fine": 8}[level])
    again = b.extract(stereo_44k, 44100, features=["top.layer2"])
    assert list(again.features) == ["top.layer2"]
    torch.testing.assert_close(again.features["top.layer2"], out.features["top.layer2"])
    with pytest.raises(ValueError, match="unknown features"):
        b.extract(stereo_44k, 44100, features=["top.layer99"])


def test_windowed_extraction_matches_single_pass(micro_checkpoint):
    b = Booster.from_pretrained(micro_checkpoint)
    rng = np.random.default_rng(1)
    t = np.arange(22050 * 6) / 22050
    wave = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.2 * np.sin(t))) + 0.05 * rng.standard_normal(t.size))
    whole = b.extract(wave.astype(np.float32), 22050)
    b.window_s, b.codec_margin_s = 1.0, 0.5  # many windows over six seconds
    windowed = b.extract(wave.astype(np.float32), 22050)
    for level in b.levels:
        assert windowed.tokens[level].shape == whole.tokens[level].shape
        agree = (windowed.tokens[level] == whole.tokens[level]).float().mean()
        assert agree > 0.99, (level, agree)
    for name, feats in whole.features.items():
        assert windowed.features[name].shape == feats.shape
        # identical tokens give identical layer states: a window's left context covers the receptive field
    tokens = {lv: t[None] for lv, t in whole.tokens.items()}
    wanted = {"fine.layer1", "fine.layer2", "mid.layer2"}
    with torch.inference_mode():
        single = next(b._feature_windows(iter([tokens]), wanted))
    cuts = [0, 4096, 8192, 20480, 22050 * 6]  # window edges in samples (multiples of the alignment)
    pieces = [{lv: t[:, a // b.model.config.codec.hops[lv]: -(-z // b.model.config.codec.hops[lv])]
               for lv, t in tokens.items()} for a, z in zip(cuts[:-1], cuts[1:], strict=True)]
    with torch.inference_mode():
        parts = list(b._feature_windows(iter(pieces), wanted))
    assert len(parts) == 4
    for name in wanted:
        torch.testing.assert_close(torch.cat([p.features[name] for p in parts], dim=1), single.features[name],
                                   atol=1e-4, rtol=1e-4)


def test_stream_from_file_equals_extract(micro_checkpoint, tmp_path):
    import soundfile as sf

    b = Booster.from_pretrained(micro_checkpoint)
    b.window_s = 0.5
    rng = np.random.default_rng(3)
    wave = (0.2 * rng.standard_normal((2, 44100 * 3))).astype(np.float32)
    sf.write(tmp_path / "x.wav", wave.T, 44100, subtype="FLOAT")
    windows = list(b.stream(tmp_path / "x.wav", features=["top.layer2", "fine.embedding"]))
    assert len(windows) > 5
    streamed = concat_outputs(windows)
    whole = b.extract(wave, 44100, features=["top.layer2", "fine.embedding"])
    for level in b.levels:
        assert streamed.tokens[level].shape == whole.tokens[level].shape
        assert (streamed.tokens[level] == whole.tokens[level]).float().mean() > 0.99
    assert set(streamed.features) == {"top.layer2", "fine.embedding"}
    assert streamed.features["top.layer2"].shape == whole.features["top.layer2"].shape


def test_batched_extraction_matches_one_by_one(micro_checkpoint):
    b = Booster.from_pretrained(micro_checkpoint)
    rng = np.random.default_rng(2)
    # uneven lengths, one at another rate and stereo, one longer than the window (goes the single path)
    clips = [rng.uniform(-0.3, 0.3, n).astype(np.float32) for n in (22050, 30000, 11111, 26000, 5000)]
    b.window_s = 1.3
    batched = b.extract_batch(clips, 22050, batch_size=2)
    assert len(batched) == len(clips)
    for clip, got in zip(clips, batched, strict=True):
        want = b.extract(clip, 22050)
        for level in b.levels:
            assert got.tokens[level].shape == want.tokens[level].shape
            edge = int(0.06 * b.frame_rate(level)) + 1  # the codec's right context near the end
            # batched matmuls sum in another order: a frame almost equidistant from two codes can flip
            # (1.5% of the micro model's frames); random tokens would agree on ~3%
            assert (got.tokens[level][:-edge] == want.tokens[level][:-edge]).float().mean() > 0.97
        for name, feats in want.features.items():
            assert got.features[name].shape == feats.shape
            level = name.split(".")[0]
            edge = int(0.06 * b.frame_rate(level)) + 1
            same = (got.tokens[level] == want.tokens[level]).all()
            if same:  # identical tokens -> identical features: the batch adds no cross-talk
                torch.testing.assert_close(got.features[name], feats, atol=1e-4, rtol=1e-4)
            else:
                assert got.features[name][:-edge].shape[0] > 0
    with pytest.raises(ValueError, match="unknown features"):
        b.extract_batch(clips[:1], 22050, features=["nope"])


def test_init_trains_on_from_a_finished_checkpoint(micro_checkpoint, rendered_corpus, tmp_path):
    """--init: the checkpoint's weights and config, its step count carried on, the LR annealed to 0."""
    from safetensors.torch import load_file

    from booster.checkpoint import fingerprint
    from hqvae.lightning import gumbel_temperature

    before = json.loads((micro_checkpoint / "training.json").read_text())
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["pretrain", str(rendered_corpus), "--out", str(run), "--init", str(micro_checkpoint),
                                   "--minutes", "0.2", "--stage1-minutes", "0.1", "--batch-size", "4",
                                   "--warmup-steps", "3", "--glob", "*/mix.flac", "--lr", "5e-4",
                                   "--lr-schedule", "cosine"])
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "training.json").read_text())
    assert summary["init_fingerprint"] == fingerprint(micro_checkpoint)
    assert summary["init_stage1_steps"] == before["stage1_steps"]
    assert summary["stage1_steps"] > before["stage1_steps"]  # steps in all, the checkpoint's included
    assert summary["stage2_steps"] > before["stage2_steps"]
    assert summary["lr_schedule"] == "cosine" and summary["lr"] == 5e-4
    assert summary["stage1_lr_settings"] == {"lr": 5e-4, "lr_schedule": "cosine", "lr_warmup_steps": 200}
    from booster.model_card import init_lines

    (line,) = init_lines(summary)  # the model card says what the run started from
    assert fingerprint(micro_checkpoint)[:12] in line and f"{before['stage1_steps']} stage-1" in line
    assert init_lines(before) == []
    # the codec trained on from the checkpoint's weights (no fresh init, no unquantized warm-up)
    start, end = load_file(micro_checkpoint / "model.safetensors"), load_file(run / "model.safetensors")
    assert not torch.equal(start["codec.quantizers.0.codebook"], end["codec.quantizers.0.codebook"])
    rows = next((run / "logs" / "stage1").rglob("metrics.csv")).read_text().splitlines()
    header = rows[0].split(",")
    first = dict(zip(header, rows[1].split(","), strict=True))
    step, temperature = int(first["step"]), float(first["stage1/temperature"])
    assert temperature == pytest.approx(gumbel_temperature(before["stage1_steps"] + step, 3))
    assert float(first["stage1/top/usage"]) > 0  # quantized from the first step
    # the cosine ends near 0; the optimizer remembers its base LR for a resume
    factors = [float(r.split(",")[header.index("lr_factor")]) for r in rows[1:] if r.split(",")[header.index("lr_factor")]]
    assert all(0 <= f <= 1 for f in factors) and factors[-1] < 0.2
    opt = torch.load(run / "train" / "stage1-last.ckpt", map_location="cpu", weights_only=True)["optimizer_states"][0]
    assert opt["param_groups"][0]["initial_lr"] == 5e-4 and opt["param_groups"][0]["lr"] < 5e-4 * 0.2


def test_init_refuses_a_mismatched_or_broken_checkpoint(micro_checkpoint, rendered_corpus, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["pretrain", str(rendered_corpus), "--out", str(tmp_path / "o"),
                              "--init", str(micro_checkpoint), "--quantizer", "vq"])
    assert res.exit_code == 2 and "holds a 'sq' codec, not --quantizer 'vq'" in res.output
    broken = tmp_path / "broken"
    shutil.copytree(micro_checkpoint, broken, ignore=shutil.ignore_patterns("train", "logs"))
    (broken / "model.safetensors").write_bytes(b"garbage")
    res = runner.invoke(app, ["pretrain", str(rendered_corpus), "--out", str(tmp_path / "o"), "--init", str(broken)])
    assert res.exit_code == 2 and "unreadable weights" in res.output
    res = runner.invoke(app, ["pretrain", str(rendered_corpus), "--out", str(tmp_path / "o"),
                              "--lr-schedule", "linear"])
    assert res.exit_code == 2 and "--lr-schedule must be constant or cosine" in res.output
    assert not (tmp_path / "o").exists()  # nothing written for a refused run


def test_cosine_factor():
    from hqvae.lightning import cosine_factor

    assert cosine_factor(0, 60) == 1.0
    assert cosine_factor(30, 60) == pytest.approx(0.5)
    assert cosine_factor(60, 60) == pytest.approx(0.0) and cosine_factor(90, 60) == pytest.approx(0.0)
    assert cosine_factor(15, 60) > cosine_factor(45, 60)
