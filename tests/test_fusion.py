"""booster.align and booster.fusion.inject on a plain CRNN and on demucs' real HTDemucs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from demucs.apply import apply_model
from demucs.htdemucs import HTDemucs
from torch import nn

from booster.align import align, resample_frames
from booster.fusion import inject


def test_align_identity_and_known_values():
    x = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_allclose(align(x, 10.0, 10.0), x)
    # doubling the rate: centres at 0.25, 0.75, ... source frames -> linear in between, edges held
    up = align(x, 10.0, 20.0)[:, 0]
    assert up.shape == (20,)
    np.testing.assert_allclose(up[1:-1], np.arange(1, 19) / 2 - 0.25, atol=1e-6)
    assert up[0] == 0.0 and up[-1] == 9.0
    # halving: each target centre falls between two source frames
    np.testing.assert_allclose(align(x, 10.0, 5.0)[:, 0], [0.5, 2.5, 4.5, 6.5, 8.5])
    np.testing.assert_allclose(align(x, 10.0, n_frames=5)[:, 0], [0.5, 2.5, 4.5, 6.5, 8.5])
    # nearest picks the containing frame; integer tokens stay integer
    tokens = torch.arange(10)
    assert align(tokens, 10.0, 20.0, mode="nearest").tolist() == sum([[i, i] for i in range(10)], [])
    with pytest.raises(ValueError, match="nearest"):
        align(tokens, 10.0, 20.0)
    with pytest.raises(ValueError, match="dst_rate or n_frames"):
        align(x, 10.0)
    # explicit frame count at a rate: longer than the source holds the last value
    assert align(x, 10.0, 10.0, n_frames=12)[-1, 0] == 9.0


def test_align_downsampling_averages_by_default():
    # a feature that alternates frame to frame (as a 689 fps feature met at 50 fps) aligns to its mean;
    # point interpolation would keep whichever phase the target centres happen to land on
    alt = np.tile([[1.0, 0.0], [2.0, 3.0], [6.0, 0.0]], (50, 1)).astype(np.float32)  # mean (3, 1)
    down = align(alt, 750.0, 50.0)
    assert down.shape == (10, 2)
    np.testing.assert_allclose(down, np.tile([[3.0, 1.0]], (10, 1)), atol=1e-5)
    assert np.abs(align(alt, 750.0, 50.0, mode="linear") - [3.0, 1.0]).max() > 0.5
    # a non-integer ratio weights each source frame by the part of the target frame it covers:
    # target frame 0 at 4 fps covers source frames 0, 1 and half of 2 at 10 fps
    ramp = np.arange(10, dtype=np.float64)
    np.testing.assert_allclose(align(ramp, 10.0, 4.0)[:2], [(0 + 1 + 0.5 * 2) / 2.5, (0.5 * 2 + 3 + 4) / 2.5])
    # going up, "auto" interpolates, as "linear" does
    np.testing.assert_allclose(align(ramp, 10.0, 20.0), align(ramp, 10.0, 20.0, mode="linear"))
    # frames asked for past the source's end hold its last frame
    assert align(ramp, 10.0, 5.0, n_frames=8)[-1] == 9.0
    with pytest.raises(ValueError, match="mode must be"):
        align(ramp, 10.0, 5.0, mode="cubic")


def test_resample_frames_matches_align_and_keeps_gradients():
    feats = torch.randn(3, 140, 4, dtype=torch.float64, requires_grad=True)
    down = resample_frames(feats, 10)
    for b in range(3):
        np.testing.assert_allclose(down[b].detach().numpy(), align(feats[b].detach().numpy(), 140.0, n_frames=10))
    down.sum().backward()
    np.testing.assert_allclose(feats.grad.numpy(), 10 / 140)  # every source frame counts equally
    up = resample_frames(feats.detach(), 280)
    np.testing.assert_allclose(up[1].numpy(), align(feats[1].detach().numpy(), 140.0, n_frames=280), atol=1e-12)


class CRNN(nn.Module):
    """A small transcription-style net: conv front end over (batch, mels, time), GRU, frame head."""

    def __init__(self, mels: int = 16, hidden: int = 24, pitches: int = 8):
        super().__init__()
        self.conv = nn.Conv1d(mels, hidden, 3, padding=1)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, pitches)

    def forward(self, spec):
        h = torch.relu(self.conv(spec))
        h, _ = self.gru(h.transpose(1, 2))
        return self.head(h)


@pytest.mark.parametrize("mode", ["add", "concat", "film"])
def test_inject_into_crnn_trains_end_to_end(mode):
    torch.manual_seed(0)
    model = CRNN()
    spec, feats = torch.randn(2, 16, 50), torch.randn(2, 13, 6)  # features at another frame rate
    base = model(spec)
    handle = inject(model, "conv", dim=6, mode=mode)
    assert any("booster_fusion_conv" in n for n, _ in model.named_parameters())
    with pytest.raises(RuntimeError, match="no booster features"):
        model(spec)
    handle.set(feats)
    out = model(spec)
    assert out.shape == base.shape and not torch.allclose(out, base)
    out.pow(2).mean().backward()
    assert handle.fusions[0].proj.weight.grad.abs().sum() > 0
    assert model.conv.weight.grad.abs().sum() > 0
    handle.remove()
    torch.testing.assert_close(model(spec), base)
    assert not any("booster_fusion" in n for n, _ in model.named_parameters())


def test_zero_init_leaves_model_unchanged():
    torch.manual_seed(0)
    model = CRNN()
    spec = torch.randn(1, 16, 20)
    base = model(spec)
    handle = inject(model, "conv", dim=4, zero_init=True)
    with handle.using(torch.randn(1, 7, 4)):
        torch.testing.assert_close(model(spec), base)


def test_feature_dropout_acts_in_training_only():
    spec, feats = torch.randn(2, 16, 20), torch.randn(2, 7, 4)
    outs = {}
    for p in (0.0, 0.5):
        torch.manual_seed(0)  # the same model and projection weights for both
        model = CRNN()
        handle = inject(model, "conv", dim=4, dropout=p)
        with handle.using(feats):
            model.eval()
            outs[p] = model(spec)
            model.train()
            torch.manual_seed(1)
            first = model(spec)
            torch.manual_seed(2)
            second = model(spec)
        if p:  # two training passes drop different feature values
            assert not torch.allclose(first, second)
        else:
            torch.testing.assert_close(first, second)
    torch.testing.assert_close(outs[0.5], outs[0.0])  # in eval() dropout changes nothing
    with pytest.raises(ValueError, match="dropout"):
        inject(CRNN(), "conv", dim=4, dropout=1.0)


def small_htdemucs() -> HTDemucs:
    return HTDemucs(["drums", "bass", "other", "lead"], audio_channels=2, samplerate=22050, segment=1,
                    channels=8, depth=3, nfft=512, t_layers=1, t_heads=2, t_hidden_scale=1.0,
                    bottom_channels=0)


def test_inject_into_htdemucs_cross_transformer():
    torch.manual_seed(0)
    model = small_htdemucs()
    mix = torch.randn(2, 2, 22050) * 0.1
    model.eval()
    with torch.no_grad():
        base = model(mix)
    channels = 8 * 2 ** (3 - 1)  # transformer channels = channels * growth ** (depth - 1)
    handle = inject(model, "crosstransformer", dim=32, mode="add", channels=[channels, channels], at="input")
    feats = torch.randn(2, 172, 32)  # e.g. 'top.layer2' at 172 frames/s for one second
    handle.set(feats)
    model.train()
    out = model(mix)
    assert out.shape == base.shape == (2, 4, 2, 22050)
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(mix), base, atol=1e-5)
    model.train()
    loss = model(mix).pow(2).mean()
    loss.backward()
    for fusion in handle.fusions:
        assert fusion.proj.weight.grad is not None and fusion.proj.weight.grad.abs().sum() > 0


def test_self_conditioning_works_inside_apply_model():
    torch.manual_seed(0)
    model = small_htdemucs().eval()
    channels = 8 * 2 ** 2
    calls = []

    def provider(x):  # features computed from each chunk the model sees
        calls.append(x.shape)
        env = x.abs().mean(dim=1)  # (batch, samples)
        return torch.nn.functional.avg_pool1d(env[:, None], 128)[:, 0, :, None].expand(-1, -1, 4)

    inject(model, "crosstransformer", dim=4, channels=[channels, channels], at="input", provider=provider)
    mix = torch.randn(1, 2, 3 * 22050) * 0.1
    out = apply_model(model, mix, shifts=1, split=True, overlap=0.25, progress=False, device="cpu")
    assert out.shape == (1, 4, 2, 3 * 22050)
    assert len(calls) >= 3  # once per chunk
    assert torch.isfinite(out).all()
