"""``Booster``: the public entry point. Load a checkpoint, extract tokens and features from audio."""

from __future__ import annotations

import math
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
    #: seconds of audio per window, and codec context kept on each side of a window
    window_s: float = 60.0
    codec_margin_s: float = 1.0

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

    def receptive_frames(self) -> int:
        """Past frames a prior layer stack can see: the left context a window needs to match one pass."""
        p = self.model.config.prior
        total = 8  # the causal positional conv
        for i in range(p.layers):
            total += 2 * p.block if p.pattern(i) == "local" else (p.taps - 1) * p.stride
        return total

    @torch.inference_mode()
    def tokens(self, audio: np.ndarray) -> dict[str, torch.Tensor]:
        """Tokens ``level -> (1, frames)`` of model-rate mono audio ``(1, samples)``, windowed so memory stays
        bounded; windows overlap by ``codec_margin_s`` on each side and only their centres are kept."""
        codec = self.model.codec
        hop = codec.config.total_hop
        n = audio.shape[1]
        win = max(hop, int(self.window_s * self.sample_rate) // hop * hop)
        margin = int(self.codec_margin_s * self.sample_rate) // hop * hop
        x = torch.from_numpy(audio).to(self.device)
        pieces: dict[str, list[torch.Tensor]] = {lv: [] for lv in self.levels}
        for a in range(0, n, win):
            b = min(n, a + win)
            lo, hi = max(0, a - margin), min(n, b + margin)
            seg = codec.pad(x[:, lo:hi])
            toks = codec.encode(seg)
            for lv in self.levels:
                h = codec.config.hops[lv]
                first = (a - lo) // h
                count = int(np.ceil(b / h)) - a // h
                pieces[lv].append(toks[lv][:, first:first + count])
        return {lv: torch.cat(p, dim=1) for lv, p in pieces.items()}

    @torch.inference_mode()
    def layer_states(self, level: int, tokens: dict[str, torch.Tensor], layers: list[int]) -> dict[int, torch.Tensor]:
        """Hidden states ``(frames, dim)`` of the chosen layers of one level's prior, in windows with enough
        left context (:meth:`receptive_frames`) to equal a single pass."""
        name = self.levels[level]
        prior = self.model.priors[name]
        tok = tokens[name]
        cond_all = tokens[self.levels[level - 1]] if level > 0 else None
        ratio = prior.cond_ratio
        step = math.lcm(self.model.config.prior.block, ratio)
        ctx = -(-self.receptive_frames() // step) * step
        t = tok.shape[1]
        win = max(step, int(self.window_s * self.frame_rate(name)) // step * step)
        out: dict[int, list[torch.Tensor]] = {j: [] for j in layers}
        for a in range(0, t, win):
            b = min(t, a + win)
            s = max(0, a - ctx)  # a multiple of step, so block and conditioning boundaries line up
            cond = cond_all[:, s // ratio: -(-b // ratio)] if cond_all is not None else None
            states = prior.hidden_states(tok[:, s:b], cond)
            for j in layers:
                out[j].append(states[j][0, a - s:])
        return {j: torch.cat(v, dim=0) for j, v in out.items()}

    @torch.inference_mode()
    def extract(self, wave, sample_rate: int, features: list[str] | None = None) -> BoosterOutput:
        """Tokens and features of one waveform ``(samples,)`` or ``(channels, samples)`` at any rate.

        Long audio is processed in ``window_s`` windows (bounded memory); away from the file's
        edges the result equals a single pass up to float rounding.
        """
        audio = to_model_audio(validate_wave(wave, sample_rate), sample_rate, self.sample_rate, mono=True)
        wanted = set(features) if features is not None else set(self.feature_names())
        unknown = wanted - set(self.feature_names())
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; available: {self.feature_names()}")
        tokens = self.tokens(audio)
        out = BoosterOutput()
        for i, level in enumerate(self.levels):
            tok = tokens[level]
            out.tokens[level] = tok[0].cpu()
            out.frame_rates[level] = self.frame_rate(level)
            if f"{level}.embedding" in wanted:
                out.features[f"{level}.embedding"] = self.model.codec.embed(level, tok)[0].float().cpu()
                out.frame_rates[f"{level}.embedding"] = self.frame_rate(level)
            layers = [j for j in self.model.config.feature_layers if f"{level}.layer{j}" in wanted]
            if self.model.priors and layers:
                for j, states in self.layer_states(i, tokens, layers).items():
                    out.features[f"{level}.layer{j}"] = states.float().cpu()
                    out.frame_rates[f"{level}.layer{j}"] = self.frame_rate(level)
        return out
