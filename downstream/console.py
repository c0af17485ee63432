"""A differentiable mixing console: per-stem gain (dB) and constant-power pan, then the renderer's
peak safety (every gain pulled down together when the mix would exceed ``MIX_PEAK``).

With the parameters the renderer chose, it reproduces the rendered mix exactly (the renderer's
gains are already below the peak limit). Everything is torch, so gradients reach the parameters.
"""

from __future__ import annotations

import math

import torch

MIX_PEAK = 0.9  # the renderer's limit (downstream.data.render.MIX_PEAK)


def pan_gains(pan: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant-power pan law: -1 hard left, 0 centre (-3 dB each side), +1 hard right."""
    theta = (pan + 1.0) * math.pi / 4.0
    return torch.cos(theta), torch.sin(theta)


def mix(stems: torch.Tensor, gain_db: torch.Tensor, pan: torch.Tensor, mask: torch.Tensor | None = None,
        peak_limit: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix mono ``stems`` ``(batch, n_stems, samples)`` to stereo ``(batch, 2, samples)``.

    ``gain_db``, ``pan``: ``(batch, n_stems)``; ``mask`` ``(batch, n_stems)`` marks real stems (padding
    stems contribute nothing). Returns the mix and the common gain change in dB that the peak limit
    applied ``(batch,)`` (0 when the mix was already below ``MIX_PEAK``).
    """
    g = torch.pow(10.0, gain_db / 20.0)
    if mask is not None:
        g = g * mask
    left, right = pan_gains(pan)
    out = torch.stack([(g * left).unsqueeze(-1).mul(stems).sum(1), (g * right).unsqueeze(-1).mul(stems).sum(1)], 1)
    drop_db = out.new_zeros(out.shape[0])
    if peak_limit:
        peak = out.abs().amax(dim=(1, 2))
        scale = torch.clamp(MIX_PEAK / peak.clamp(min=1e-9), max=1.0)
        out = out * scale[:, None, None]
        drop_db = 20 * torch.log10(scale)
    return out, drop_db
