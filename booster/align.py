"""Time alignment of feature sequences between frame rates: the one place that does it.

Convention: frame ``i`` at rate ``r`` covers ``[i / r, (i + 1) / r)`` and is represented by
its centre ``(i + 0.5) / r``. A target frame takes the source value at its own centre,
linearly interpolated (``mode="linear"``) or from the source frame that contains it
(``mode="nearest"``). Before the first source centre and after the last, the edge frame's
value is held (no extrapolation, no zero padding).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def align(
    feats,
    src_rate: float,
    dst_rate: float | None = None,
    n_frames: int | None = None,
    mode: str = "linear",
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
    if mode not in ("linear", "nearest"):
        raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}")
    if not x.is_floating_point() and mode == "linear":
        raise ValueError("integer features (tokens) can only be aligned with mode='nearest'")
    t_src = x.shape[0]
    if dst_rate is None and n_frames is None:
        raise ValueError("give dst_rate or n_frames")
    if dst_rate is None:
        dst_rate = n_frames * src_rate / t_src
    if n_frames is None:
        n_frames = max(1, math.ceil(t_src * dst_rate / src_rate - 1e-9))
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
