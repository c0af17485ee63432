"""Time alignment of feature sequences between frame rates: the one place that does it.

Convention: frame ``i`` at rate ``r`` covers ``[i / r, (i + 1) / r)`` and is represented by
its centre ``(i + 0.5) / r``. A target frame takes

- ``mode="area"``: the mean of the source over the target frame's interval (source frames
  weighted by how much of it they cover). Going *down* in rate this is the only honest choice:
  point sampling a 689 fps feature at 50 fps keeps about 1 frame in 14 and aliases the rest.
- ``mode="linear"``: the source value at the target frame's centre, linearly interpolated;
- ``mode="nearest"``: the source frame that contains the target frame's centre (tokens);
- ``mode="auto"`` (default): ``area`` when going down in rate, ``linear`` otherwise.

Outside the source (before the first centre and after the last for point modes, past the end
for ``area``) the edge frame's value is held (no extrapolation, no zero padding).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

MODES = ("auto", "area", "linear", "nearest")


def align(
    feats,
    src_rate: float,
    dst_rate: float | None = None,
    n_frames: int | None = None,
    mode: str = "auto",
):
    """Resample ``feats`` ``(T, D)`` or ``(T,)`` from ``src_rate`` frames/s to ``dst_rate`` or ``n_frames``.

    - ``dst_rate`` only: ``ceil(T * dst_rate / src_rate)`` frames covering the same duration.
    - ``n_frames`` only: that many frames spread over the same duration (``dst_rate = n_frames * src_rate / T``).
    - both: ``n_frames`` frames at ``dst_rate`` from time 0 (shorter or longer than the source; held at the edge).

    Returns the same type as given (numpy array or torch tensor); integer inputs (tokens) must use ``nearest``.
    """
    is_numpy = not torch.is_tensor(feats)
    x = torch.as_tensor(np.asarray(feats)) if is_numpy else feats
    if x.ndim not in (1, 2):
        raise ValueError(f"feats must be (frames,) or (frames, dim), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("feats has zero frames")
    if src_rate <= 0 or (dst_rate is not None and dst_rate <= 0):
        raise ValueError(f"frame rates must be positive (src {src_rate}, dst {dst_rate})")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not x.is_floating_point() and mode != "nearest":
        raise ValueError("integer features (tokens) can only be aligned with mode='nearest'")
    t_src = x.shape[0]
    if dst_rate is None and n_frames is None:
        raise ValueError("give dst_rate or n_frames")
    if dst_rate is None:
        dst_rate = n_frames * src_rate / t_src
    if n_frames is None:
        n_frames = max(1, math.ceil(t_src * dst_rate / src_rate - 1e-9))
    if mode == "auto":
        mode = "area" if dst_rate < src_rate else "linear"
    if mode == "area":
        out = _area_mean(x, src_rate, dst_rate, n_frames)
        return out.numpy() if is_numpy else out
    centres = (torch.arange(n_frames, dtype=torch.float64) + 0.5) / dst_rate  # seconds
    pos = centres * src_rate - 0.5  # fractional source index
    if mode == "nearest":
        idx = torch.floor(centres * src_rate).long().clamp(0, t_src - 1)
        out = x[idx]
    else:
        pos = pos.clamp(0, t_src - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=t_src - 1)
        w = (pos - lo).to(x.dtype)
        if x.ndim == 2:
            w = w[:, None]
        out = x[lo] * (1 - w) + x[hi] * w
    return out.numpy() if is_numpy else out


def _area_mean(x: torch.Tensor, src_rate: float, dst_rate: float, n_frames: int) -> torch.Tensor:
    """Mean of the piecewise-constant source ``(T, ...)`` over each target interval, from its running
    integral (one cumulative sum, so the cost is linear in ``T + n_frames`` whatever the ratio)."""
    t_src = x.shape[0]
    flat = x.reshape(t_src, -1).double()
    integral = torch.cat([flat.new_zeros(1, flat.shape[1]), flat.cumsum(0)])  # (T + 1, D): sum of frames < k
    edges = (torch.arange(n_frames + 1, dtype=torch.float64) / dst_rate * src_rate).clamp(0, t_src)

    def integral_at(pos: torch.Tensor) -> torch.Tensor:
        k = pos.floor().long().clamp(max=t_src - 1)
        return integral[k] + (pos - k)[:, None] * flat[k]

    lo, hi = edges[:-1], edges[1:]
    width = hi - lo
    out = (integral_at(hi) - integral_at(lo)) / width.clamp(min=1e-12)[:, None]
    past_end = width < 1e-9  # a target frame wholly after the source: hold the last frame
    out[past_end] = flat[-1]
    return out.to(x.dtype).reshape(n_frames, *x.shape[1:])


def resample_frames(feats: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Batched, differentiable :func:`align` onto ``n_frames`` over the same duration:
    ``(batch, frames, dim)`` -> ``(batch, n_frames, dim)``; the area mean going down, linear going up."""
    t_src = feats.shape[1]
    if n_frames < t_src:
        per_frame = rearrange(feats, "b t d -> t b d")
        return rearrange(_area_mean(per_frame, t_src, n_frames, n_frames), "t b d -> b t d")
    return rearrange(F.interpolate(rearrange(feats, "b t d -> b d t"), size=n_frames, mode="linear",
                                   align_corners=False), "b d t -> b t d")
