"""Shared fixtures: everything a test needs is made here, small and deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def sine(seconds: float, sr: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """(samples, channels) float32 sine, a different phase per channel."""
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.5 * np.sin(2 * np.pi * freq * t + c) for c in range(channels)], axis=1).astype(np.float32)


@pytest.fixture
def wav_factory(tmp_path: Path):
    def make(name: str = "a.wav", seconds: float = 1.0, sr: int = 44100, channels: int = 2, **kw) -> Path:
        path = tmp_path / name
        sf.write(str(path), sine(seconds, sr, channels=channels), sr, **kw)
        return path

    return make


@pytest.fixture(scope="session")
def rendered_corpus(tmp_path_factory) -> Path:
    """A tiny rendered corpus (basic synth, both sources) shared by read-only tests."""
    from downstream.data.render import RenderConfig, render_corpus

    out = tmp_path_factory.mktemp("corpus")
    render_corpus(out, RenderConfig(tracks=3, seconds=6, source="procedural", synth="basic", seed=3))
    render_corpus(out, RenderConfig(tracks=2, seconds=6, source="music21", synth="basic", seed=3, start_index=4))
    return out


@pytest.fixture(scope="session")
def micro_ckpt(tmp_path_factory) -> Path:
    """A freshly initialised micro checkpoint: deterministic, fast to extract with."""
    import torch

    from booster.checkpoint import save_checkpoint
    from hqvae.foundation import CONFIGS, FoundationModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("micro") / "ckpt"
    save_checkpoint(FoundationModel(CONFIGS["micro"]()), out)
    return out
