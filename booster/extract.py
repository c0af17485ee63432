"""``Booster``: the public entry point. Load a checkpoint, extract tokens and features from audio."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from booster.audio import to_model_audio, validate_wave
from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint, load_checkpoint
from hqvae.foundation import FoundationModel


@dataclass
class BoosterOutput:
    """What :meth:`Booster.extract` returns.

    ``tokens[level]``: LongTensor ``(frames,)``; ``features[name]``: FloatTensor ``(frames, dim)``;
    ``frame_rates[name]``: frames per second of each entry (tokens are keyed by level name).
    """

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    frame_rates: dict[str, float] = field(default_factory=dict)


class Booster:
    def __init__(self, model: FoundationModel, checkpoint: str | Path | None = None, device: str = "cpu"):
        self.model = model.to(device).eval()
        self.device = device
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.fingerprint = fingerprint(checkpoint) if checkpoint else None

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu") -> Booster:
        """Load a checkpoint folder; ``None`` loads the small model bundled with the package."""
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        return cls(load_checkpoint(path), path, device)

    @property
    def sample_rate(self) -> int:
        return self.model.config.codec.sample_rate

    @property
    def levels(self) -> tuple[str, ...]:
        return self.model.levels

    def frame_rate(self, level: str) -> float:
        return self.sample_rate / self.model.config.codec.hops[level]

    def feature_names(self) -> list[str]:
        names = []
        for level in self.levels:
            names.append(f"{level}.embedding")
            if self.model.priors:
                names += [f"{level}.layer{i}" for i in self.model.config.feature_layers]
        return names

    @torch.inference_mode()
    def extract(self, wave, sample_rate: int, features: list[str] | None = None) -> BoosterOutput:
        """Tokens and features of one waveform ``(samples,)`` or ``(channels, samples)`` at any rate."""
        audio = to_model_audio(validate_wave(wave, sample_rate), sample_rate, self.sample_rate, mono=True)
        n = audio.shape[1]
        x = self.model.codec.pad(torch.from_numpy(audio).to(self.device))
        wanted = set(features) if features is not None else set(self.feature_names())
        unknown = wanted - set(self.feature_names())
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; available: {self.feature_names()}")
        tokens = self.model.codec.encode(x)
        out = BoosterOutput()
        for i, level in enumerate(self.levels):
            frames = int(np.ceil(n / self.model.config.codec.hops[level]))
            tok = tokens[level][:, :frames]
            out.tokens[level] = tok[0].cpu()
            out.frame_rates[level] = self.frame_rate(level)
            if f"{level}.embedding" in wanted:
                out.features[f"{level}.embedding"] = self.model.codec.embed(level, tok)[0].float().cpu()
                out.frame_rates[f"{level}.embedding"] = self.frame_rate(level)
            layer_names = [f"{level}.layer{j}" for j in self.model.config.feature_layers]
            if self.model.priors and wanted & set(layer_names):
                cond = tokens[self.levels[i - 1]] if i > 0 else None
                states = self.model.priors[level].hidden_states(tokens[level], cond)
                for j, name in zip(self.model.config.feature_layers, layer_names, strict=True):
                    if name in wanted:
                        out.features[name] = states[j][0, :frames].float().cpu()
                        out.frame_rates[name] = self.frame_rate(level)
        return out
