"""`booster pretrain` end to end on a tiny corpus, its resume, and the Booster API on its checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from booster import Booster
from booster.cli import app


@pytest.fixture(scope="module")
def micro_checkpoint(rendered_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "micro"
    res = CliRunner().invoke(app, ["pretrain", str(rendered_corpus), "--out", str(out), "--config", "micro",
                                   "--minutes", "0.3", "--batch-size", "4",
                                   "--warmup-steps", "3"])
    assert res.exit_code == 0, res.output
    return out


def test_pretrain_writes_checkpoint_and_logs(micro_checkpoint):
    summary = json.loads((micro_checkpoint / "training.json").read_text())
    assert summary["stage1_steps"] > 0 and summary["stage2_steps"] > 0
    assert summary["clips_used"] > 0 and summary["hours"] > 0
    assert (micro_checkpoint / "config.json").exists() and (micro_checkpoint / "model.safetensors").exists()
    logged = next((micro_checkpoint / "logs" / "stage1").rglob("metrics.csv")).read_text()
    for key in ("stage1/top/usage", "stage1/top/perplexity", "stage1/top/variance", "stage1/loss"):
        assert key in logged


def test_pretrain_resumes_without_redoing_finished_stages(micro_checkpoint):
    before = json.loads((micro_checkpoint / "training.json").read_text())
    res = CliRunner().invoke(app, ["pretrain", str(micro_checkpoint.parent.parent), "--out", str(micro_checkpoint),
                                   "--config", "micro", "--minutes", "0.15"])
    # the audio dir differs, but the finished stage 1 is not trained again and stage 2's budget is spent
    assert res.exit_code == 0, res.output
    after = json.loads((micro_checkpoint / "training.json").read_text())
    assert after["stage1_steps"] == before["stage1_steps"]
    assert after["stage2_steps"] == before["stage2_steps"]


def test_pretrain_rejects_bad_input(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["pretrain", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "not found" in res.output
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["pretrain", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no audio files" in res.output
    res = runner.invoke(app, ["pretrain", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--config", "huge"])
    assert res.exit_code == 2 and "--config" in res.output


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
        # identical tokens give identical layer states: the window context covers the receptive field
    layer_b = Booster.from_pretrained(micro_checkpoint)
    tokens = layer_b.tokens(b.model.codec.pad(torch.from_numpy(wave[None].astype(np.float32))).numpy())
    full = layer_b.layer_states(2, tokens, [1, 2])
    layer_b.window_s = 0.25
    parts = layer_b.layer_states(2, tokens, [1, 2])
    for j in (1, 2):
        torch.testing.assert_close(parts[j], full[j], atol=1e-4, rtol=1e-4)
