"""The pretrained checkpoints that ship inside the package."""

from __future__ import annotations

import numpy as np

from booster import Booster
from booster.checkpoint import BASELINE_CHECKPOINT, DEFAULT_CHECKPOINT, checkpoint_size_bytes, load_checkpoint


def test_bundled_default_loads_and_extracts():
    assert checkpoint_size_bytes(DEFAULT_CHECKPOINT) <= 20 * 2**20
    assert (DEFAULT_CHECKPOINT / "MODEL_CARD.md").exists()
    b = Booster.from_pretrained()
    assert b.fingerprint and len(b.fingerprint) == 64
    t = np.arange(22050 * 2) / 22050
    out = b.extract(0.3 * np.sin(2 * np.pi * 330 * t).astype(np.float32), 22050)
    assert set(out.tokens) == {"top", "mid", "fine"}
    assert out.features["top.layer2"].shape == (345, 128)
    assert all(np.isfinite(f.numpy()).all() for f in out.features.values())


def test_bundled_baseline_is_the_same_size_and_bitrate():
    ours, base = load_checkpoint(DEFAULT_CHECKPOINT), load_checkpoint(BASELINE_CHECKPOINT)
    assert base.config.codec.quantizer == "vq" and ours.config.codec.quantizer == "sq"
    assert base.config.codec.codebook_size == ours.config.codec.codebook_size
    assert base.config.codec.hops == ours.config.codec.hops
    n_ours = sum(p.numel() for p in ours.codec.parameters())
    n_base = sum(p.numel() for p in base.codec.parameters())
    assert abs(n_ours - n_base) / n_ours < 0.1
