"""The booster as a HEAR 2021 module: ``hear-validator booster.hear`` and hear-eval-kit run it as is.

The HEAR common API (https://hearbenchmark.com/hear-api.html):

- :func:`load_model` ``("")`` loads the bundled checkpoint; a path loads that checkpoint folder.
- :func:`get_timestamp_embeddings` ``(audio (n_sounds, n_samples), model)`` ->
  ``(embeddings (n_sounds, n_timestamps, timestamp_embedding_size), timestamps (n_sounds, n_timestamps))``,
  timestamps in milliseconds, every :data:`HOP_MS` ms at the centres of the frames.
- :func:`get_scene_embeddings` ``(audio, model)`` -> ``(n_sounds, scene_embedding_size)``.

Which features: every top- and mid-level feature (code embeddings and prior layers) concatenated,
the representation that ``booster probe`` scores best overall on the bundled model (``booster:all``
in ``docs/results/booster-v2``): it leads the tag probe with 120 labelled tracks and, among the
booster's own features, the pitch and instrument probes. Each is averaged onto a 50 fps grid
(:func:`booster.align.align`, area mode), which the API's 50 ms limit for event tasks allows. The
scene embedding is the mean and the standard deviation over time of the timestamp embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from booster.align import align
from booster.extract import Booster

HOP_MS = 20.0  # one timestamp embedding every 20 ms (50 fps)


class HearModel(nn.Module):
    """A booster behind the HEAR API's attributes; its weights move with ``.to(device)``."""

    def __init__(self, booster: Booster, features: list[str] | None = None):
        super().__init__()
        self.booster = booster
        self.foundation = booster.model  # registered, so .to() / .parameters() see the weights
        self.features = features or booster.coarse_feature_names()
        dim = sum(booster.feature_dim(n) for n in self.features)
        self.sample_rate: int = int(booster.sample_rate)
        self.timestamp_embedding_size: int = int(dim)
        self.scene_embedding_size: int = int(2 * dim)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return get_timestamp_embeddings(audio, self)


def load_model(model_file_path: str = "") -> HearModel:
    """The bundled booster (empty path) or the checkpoint folder at ``model_file_path``."""
    return HearModel(Booster.from_pretrained(model_file_path or None))


def _check_audio(audio, model: HearModel) -> torch.Tensor:
    if not torch.is_tensor(audio):
        raise TypeError(f"audio must be a torch tensor (n_sounds, n_samples), got {type(audio).__name__}")
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError(f"audio must be (n_sounds, n_samples) with samples at {model.sample_rate} Hz, "
                         f"got shape {tuple(audio.shape)}")
    return audio


@torch.inference_mode()
def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """``audio`` ``(n_sounds, n_samples)`` at ``model.sample_rate`` -> float32 embeddings
    ``(n_sounds, n_timestamps, timestamp_embedding_size)`` and timestamps ``(n_sounds, n_timestamps)`` in ms.

    Frame ``i`` covers ``[i, i + 1) * HOP_MS`` and is stamped at its centre; there are as many frames
    as whole-or-half frames fit in the audio, so the last timestamp never passes its end.
    """
    audio = _check_audio(audio, model)
    device = next(model.parameters()).device
    model.booster.device = str(device)
    n_sounds, n_samples = audio.shape
    rate = 1000.0 / HOP_MS
    n_frames = max(1, int(n_samples / model.sample_rate * rate + 0.5))
    outs = model.booster.extract_batch(list(audio.detach().float().cpu().numpy()), model.sample_rate,
                                       features=model.features, batch_size=max(1, n_sounds))
    emb = torch.stack([torch.cat([align(o.features[n], o.frame_rates[n], rate, n_frames=n_frames)
                                  for n in model.features], dim=1) for o in outs]).float().to(device)
    stamps = ((torch.arange(n_frames, dtype=torch.float64) + 0.5) * HOP_MS).float()
    return emb, stamps.expand(n_sounds, n_frames).contiguous().to(device)


@torch.inference_mode()
def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """``audio`` ``(n_sounds, n_samples)`` -> float32 ``(n_sounds, scene_embedding_size)``: the mean and the
    standard deviation over time of the timestamp embeddings."""
    emb, _ = get_timestamp_embeddings(audio, model)
    std = emb.std(dim=1, unbiased=False)
    return torch.cat([emb.mean(dim=1), std], dim=1)
