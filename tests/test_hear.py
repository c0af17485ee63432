"""`booster.hear`: the HEAR 2021 common API, checked against the rules the official validator applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from booster import hear
from booster.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def model(micro_ckpt):
    return hear.load_model(str(micro_ckpt))


def noise(n_sounds: int, seconds: float, sr: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n_sounds, int(seconds * sr)), generator=g) * 2 - 1  # as the validator makes it


def test_attributes(model):
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate == 22050 and isinstance(model.sample_rate, int)
    assert isinstance(model.timestamp_embedding_size, int) and isinstance(model.scene_embedding_size, int)
    assert model.scene_embedding_size == 2 * model.timestamp_embedding_size
    assert model.features == ["top.embedding", "top.layer1", "top.layer2", "mid.embedding", "mid.layer1", "mid.layer2"]
    assert len(list(model.parameters())) > 0  # the booster's weights move with .to(device)


def test_empty_path_loads_the_bundled_model_and_bad_paths_fail_clearly(tmp_path):
    bundled = hear.load_model("")
    assert bundled.sample_rate == 22050 and bundled.timestamp_embedding_size == 576 + 6 * 128 + 376  # coarse features + the readout (layers, head: 176 notes + 200 timbre)
    with pytest.raises(CheckpointError, match="nowhere"):
        hear.load_model(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0, 0.03])
def test_timestamp_embeddings_follow_the_api(model, seconds):
    audio = noise(2, seconds, model.sample_rate)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert emb.dtype == torch.float32 and not emb.requires_grad
    assert emb.ndim == 3 and ts.ndim == 2 and emb.shape[:2] == ts.shape and emb.shape[0] == 2
    assert emb.shape[2] == model.timestamp_embedding_size
    assert torch.isfinite(emb).all()
    t = ts.numpy()
    if t.shape[1] > 1:
        step = np.diff(t, axis=1)
        assert np.abs(step - step.mean()).max() < 1e-3 and step.max() <= 50.0  # even, at most 50 ms apart
    assert t.min() >= 0 and t.max() <= 1000 * seconds  # never past the audio's end
    assert t.max() >= 1000 * seconds - hear.HOP_MS  # and reaching it


def test_a_sound_does_not_depend_on_its_batch(model):
    a, b = noise(1, 2.0, model.sample_rate, 1), noise(1, 2.0, model.sample_rate, 2)
    alone, _ = hear.get_timestamp_embeddings(a, model)
    together, _ = hear.get_timestamp_embeddings(torch.cat([b, a]), model)
    torch.testing.assert_close(together[1], alone[0], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(together[0], together[1])


def test_scene_embeddings(model):
    audio = noise(4, 2.74, model.sample_rate)
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == torch.float32 and scene.shape == (4, model.scene_embedding_size)
    emb, _ = hear.get_timestamp_embeddings(audio, model)
    torch.testing.assert_close(scene[:, : emb.shape[2]], emb.mean(dim=1))


def test_bad_audio_is_refused_clearly(model):
    with pytest.raises(ValueError, match="n_sounds, n_samples"):
        hear.get_timestamp_embeddings(torch.zeros(22050), model)
    with pytest.raises(TypeError, match="torch tensor"):
        hear.get_timestamp_embeddings(np.zeros((1, 22050), np.float32), model)
