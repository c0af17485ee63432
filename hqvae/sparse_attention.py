"""Factorised sparse causal attention (block-local + strided), cost linear in context length.

Two patterns, alternated across layers (Child et al. 2019; Jukebox):

- ``local``: query ``i`` attends causally to keys in its own block and the previous one
  (block size ``b``): at most ``2b`` keys per query.
- ``strided``: query ``i`` attends to ``i, i - s, i - 2s, ... i - (n-1)s`` (stride ``s``,
  ``n`` taps): ``n`` keys per query, reaching ``(n-1)s`` frames back.

Stacked, a local layer then a strided one see ``~ n * s`` frames of past at ``O(T (2b + n))``
cost, instead of dense attention's ``O(T^2)``. :func:`sparse_mask` builds the equivalent
dense boolean mask, used to check the sparse kernels against dense attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange


def sparse_mask(t: int, pattern: str, block: int, stride: int, taps: int,
                device: torch.device | None = None) -> torch.Tensor:
    """Dense ``(t, t)`` bool mask (True = may attend) equal to the sparse pattern."""
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(t, device=device)[None, :]
    causal = j <= i
    if pattern == "local":
        return causal & (j // block >= i // block - 1)
    if pattern == "strided":
        diff = i - j
        return causal & (diff % stride == 0) & (diff // stride < taps)
    raise ValueError(f"unknown pattern {pattern!r}")


def dense_attention(q, k, v, mask: torch.Tensor) -> torch.Tensor:
    """Reference: ``(batch, heads, time, dim)`` attention under a ``(time, time)`` bool mask."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def local_attention(q, k, v, block: int) -> torch.Tensor:
    """Causal block-local attention over ``(batch, heads, time, dim)``; each block sees itself and the one before."""
    t = q.shape[2]
    pad = (-t) % block
    if pad:
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
    qb = rearrange(q, "b h (n w) d -> b h n w d", w=block)
    kb = rearrange(k, "b h (n w) d -> b h n w d", w=block)
    vb = rearrange(v, "b h (n w) d -> b h n w d", w=block)
    # keys of the previous block next to this block's: (b h n 2w d)
    k2 = torch.cat([F.pad(kb, (0, 0, 0, 0, 1, 0))[:, :, :-1], kb], dim=3)
    v2 = torch.cat([F.pad(vb, (0, 0, 0, 0, 1, 0))[:, :, :-1], vb], dim=3)
    scores = qb @ k2.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (b h n w 2w)
    qi = torch.arange(block, device=q.device)[:, None] + block
    kj = torch.arange(2 * block, device=q.device)[None, :]
    allowed = (kj <= qi)[None].expand(scores.shape[2], -1, -1).clone()
    allowed[0, :, :block] = False  # the first block has no previous block
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = scores.softmax(dim=-1) @ v2
    return rearrange(out, "b h n w d -> b h (n w) d")[:, :, :t]


def strided_attention(q, k, v, stride: int, taps: int) -> torch.Tensor:
    """Causal strided attention: query ``i`` sees keys ``i - m * stride`` for ``m < taps``.

    Tap ``m`` of every query is one plain slice of the left-padded keys, so the cost is linear in
    time and autograd's backward is a slice too. (A strided ``as_strided`` view of all taps at once
    computes the same forward, but the backward of overlapping views is slow: 4x this one's here,
    and it held a GPU's stage-2 training to a few steps per second.)
    """
    t, d = q.shape[2], q.shape[3]
    pad = (taps - 1) * stride
    kp, vp = F.pad(k, (0, 0, pad, 0)), F.pad(v, (0, 0, pad, 0))
    # tap m: key i + m * stride of the padded keys = key i - (taps - 1 - m) * stride
    scores = torch.stack([(q * kp[:, :, m * stride:m * stride + t]).sum(-1) for m in range(taps)], dim=-1)
    valid = (torch.arange(t, device=q.device)[:, None] + torch.arange(taps, device=q.device)[None] * stride) >= pad
    weights = (scores / math.sqrt(d)).masked_fill(~valid, float("-inf")).softmax(dim=-1)
    out = weights[..., :1] * vp[:, :, :t]
    for m in range(1, taps):
        out = out + weights[..., m:m + 1] * vp[:, :, m * stride:m * stride + t]
    return out


def sparse_attention(q, k, v, pattern: str, block: int, stride: int, taps: int) -> torch.Tensor:
    if pattern == "local":
        return local_attention(q, k, v, block)
    if pattern == "strided":
        return strided_attention(q, k, v, stride, taps)
    if pattern == "dense":
        return dense_attention(q, k, v, torch.ones(q.shape[2], q.shape[2], dtype=torch.bool,
                                                   device=q.device).tril())
    raise ValueError(f"unknown pattern {pattern!r}")
