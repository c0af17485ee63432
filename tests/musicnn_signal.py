"""The input of tests/data/musicnn_tf_reference.json, shared by the test and the script that made it."""

from __future__ import annotations

import numpy as np


def reference_signal(sr: int = 16000, seconds: float = 6.0) -> np.ndarray:
    """A bass line and a chord of harmonic tones under a pulsing envelope, plus a high 'hi-hat' of sines;
    deterministic, no RNG. docs/results/booster-v2/round13/musicnn_tf_reference.py imports it where TensorFlow
    is installed, so this module needs NumPy alone."""
    t = np.arange(int(sr * seconds)) / sr
    x = np.zeros_like(t)
    for f0, amp in ((55.0, 0.3), (220.0, 0.2), (277.2, 0.15), (329.6, 0.15)):
        for h in range(1, 8):
            x += amp / h * np.sin(2 * np.pi * f0 * h * t)
    env = 0.5 + 0.5 * np.cos(2 * np.pi * 2.0 * t) ** 8
    hat = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((6011.0, 7333.3, 8123.7, 9421.1)))
    return ((x * env + 0.05 * hat * env) * 0.2).astype(np.float32)
