"""Delayed readout: a layer feature of frame t is the prior's state at t + delay, in training
(teacher heads) and at extraction (window by window, equal to one pass shifted)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from booster import Booster
from booster.extract import BoosterOutput, delay_features
from hqvae.foundation import CONFIGS, FoundationConfig, FoundationModel
from hqvae.lightning import Stage2Module, TeacherHeadSpec


def _windows(x: torch.Tensor, cuts: list[int]) -> list[BoosterOutput]:
    return [BoosterOutput(features={"f": x[:, a:b]}) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _shifted(x: torch.Tensor, d: int) -> torch.Tensor:
    """``x`` read ``d`` frames later, the last frame standing in past the end."""
    idx = torch.clamp(torch.arange(x.shape[1]) + d, max=x.shape[1] - 1)
    return x[:, idx]


@pytest.mark.parametrize("delay", [0, 1, 3, 7, 25, 40])
def test_delay_features_equals_one_shifted_pass(delay):
    x = torch.randn(2, 30, 4)
    cuts = [0, 8, 9, 20, 30]  # uneven windows, one of a single frame; delays beyond one window and the stream
    outs = list(delay_features(iter(_windows(x, cuts)), {"f": delay}))
    assert [o.features["f"].shape[1] for o in outs] == [8, 1, 11, 10]  # each window keeps its frames
    torch.testing.assert_close(torch.cat([o.features["f"] for o in outs], dim=1), _shifted(x, delay))


def test_delay_config_round_trips_and_scales_per_level():
    cfg = CONFIGS["micro"]()
    cfg.feature_delay = 3
    back = FoundationConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back.feature_delay == 3
    assert [back.delay_frames(lv) for lv in back.codec.levels] == [3, 12, 48]  # hops 128 / 32 / 8
    old = cfg.to_dict()
    del old["feature_delay"]  # checkpoints written before delayed readout
    assert FoundationConfig.from_dict(old).feature_delay == 0


def test_delayed_booster_features_are_the_undelayed_states_shifted(micro_ckpt, tmp_path):
    import numpy as np

    from booster.checkpoint import load_checkpoint, save_checkpoint

    model = load_checkpoint(micro_ckpt)
    plain = Booster(model)
    delayed_model = load_checkpoint(micro_ckpt)
    delayed_model.config.feature_delay = 5
    save_checkpoint(delayed_model, tmp_path / "delayed")
    delayed = Booster.from_pretrained(tmp_path / "delayed")
    assert delayed.fingerprint != Booster.from_pretrained(micro_ckpt).fingerprint  # a delay is another model
    wave = (0.2 * np.random.default_rng(0).standard_normal(22050 * 3)).astype(np.float32)
    for b in (plain, delayed):
        b.window_s, b.codec_margin_s = 0.5, 0.25  # several windows
    want, got = plain.extract(wave, 22050), delayed.extract(wave, 22050)
    for level in delayed.levels:
        torch.testing.assert_close(got.tokens[level], want.tokens[level])
        torch.testing.assert_close(got.features[f"{level}.embedding"], want.features[f"{level}.embedding"])
        d = delayed.model.config.delay_frames(level)
        for name in (f"{level}.layer1", f"{level}.layer2"):
            torch.testing.assert_close(got.features[name], _shifted(want.features[name][None], d)[0])


def test_teacher_heads_read_the_delayed_state():
    torch.manual_seed(0)
    model = FoundationModel(CONFIGS["micro"]())
    module = Stage2Module(model, teachers=[TeacherHeadSpec("t", 1, "mse")], teacher_delay=2)
    module.teacher_heads["mid__t"] = nn.Identity()
    ratio, frames = 4, 10
    states = [torch.arange(frames * ratio, dtype=torch.float32).reshape(1, -1, 1)] * 3  # a state = its position
    targets = torch.arange(frames, dtype=torch.float32).reshape(1, -1, 1)
    pred, y = module.teacher_prediction("mid", "t", states, targets)
    # frame t (mid grid) is read at position t + 1 + 2 * ratio: it has seen tokens <= t + 8
    assert pred.shape == y.shape == (1, frames * ratio - 1 - 2 * ratio, 1)
    assert pred[0, :, 0].tolist() == [t + 1 + 2 * ratio for t in range(pred.shape[1])]
    assert y[0, :, 0].tolist() == [t // ratio for t in range(pred.shape[1])]
    with pytest.raises(ValueError, match="teacher_delay"):
        Stage2Module(model, teacher_delay=-1)
