"""Production effects on a rendered mix, so pretraining audio is not always dry and clean.

A random chain per track (Spotify's ``pedalboard``): EQ (low and high shelves, one peak), a bus
compressor, and often reverb, sometimes chorus or light saturation; then the peak is brought back
to the renderer's level. Stems stay dry: with effects the mix is no longer the sum of the stems,
so such corpora are for pretraining, not for separation or mixing labels.
"""

from __future__ import annotations

import numpy as np


def random_chain(rng: np.random.Generator) -> tuple[object, dict]:
    """A ``pedalboard.Pedalboard`` and its parameters (recorded in the track's metadata)."""
    import pedalboard as pb

    params: dict = {
        "low_shelf": {"cutoff_frequency_hz": float(rng.uniform(80, 300)), "gain_db": float(rng.uniform(-6, 6))},
        "high_shelf": {"cutoff_frequency_hz": float(rng.uniform(3000, 10000)), "gain_db": float(rng.uniform(-8, 5))},
        "peak": {"cutoff_frequency_hz": float(np.exp(rng.uniform(np.log(200), np.log(5000)))),
                 "gain_db": float(rng.uniform(-6, 6)), "q": float(rng.uniform(0.5, 2.0))},
        "compressor": {"threshold_db": float(rng.uniform(-30, -10)), "ratio": float(rng.uniform(1.5, 8)),
                       "attack_ms": float(rng.uniform(1, 30)), "release_ms": float(rng.uniform(50, 300))},
    }
    chain = [pb.LowShelfFilter(**params["low_shelf"]), pb.HighShelfFilter(**params["high_shelf"]),
             pb.PeakFilter(**params["peak"]), pb.Compressor(**params["compressor"])]
    if rng.random() < 0.2:
        params["chorus"] = {"rate_hz": float(rng.uniform(0.3, 2.0)), "depth": float(rng.uniform(0.1, 0.4)),
                            "mix": float(rng.uniform(0.2, 0.5))}
        chain.append(pb.Chorus(**params["chorus"]))
    if rng.random() < 0.15:
        params["distortion"] = {"drive_db": float(rng.uniform(3, 12))}
        chain.append(pb.Distortion(**params["distortion"]))
    if rng.random() < 0.7:
        params["reverb"] = {"room_size": float(rng.uniform(0.1, 0.9)), "damping": float(rng.uniform(0.2, 0.8)),
                            "wet_level": float(rng.uniform(0.05, 0.35)), "dry_level": float(rng.uniform(0.6, 0.9)),
                            "width": float(rng.uniform(0.5, 1.0))}
        chain.append(pb.Reverb(**params["reverb"]))
    return pb.Pedalboard(chain), params


def apply_production(mix: np.ndarray, sample_rate: int, rng: np.random.Generator,
                     peak: float = 0.9) -> tuple[np.ndarray, dict]:
    """``mix`` ``(channels, samples)`` through a :func:`random_chain`, peak-normalised to ``peak``;
    returns the processed mix (same shape) and the chain's parameters."""
    board, params = random_chain(rng)
    out = board(mix.astype(np.float32), sample_rate)[:, : mix.shape[1]]
    top = float(np.abs(out).max())
    if top > 0:
        out = out * (peak / top)
    return out.astype(np.float64), params
