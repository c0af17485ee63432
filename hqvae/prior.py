"""Stage 2: sparse transformers over each level's tokens.

The top level gets an unconditional prior; each finer level an *upsampler* conditioned on
the level above (its token embeddings repeated to the finer frame rate). Layers alternate
block-local and strided attention (:mod:`hqvae.sparse_attention`). Trained by next-token NLL, or,
with ``causal=False``, as a bidirectional masked-token model (spans of tokens replaced by a mask id
and predicted from both sides, as HuBERT / MERT do over their units); hidden states of chosen
layers are the booster features.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from hqvae.sparse_attention import sparse_attention


@dataclass
class PriorConfig:
    dim: int = 128
    layers: int = 4
    heads: int = 4
    block: int = 32
    stride: int = 32
    taps: int = 16
    mlp_ratio: int = 4
    dropout: float = 0.0
    # "sparse" alternates local/strided; "dense" is the quadratic reference
    attention: str = "sparse"
    # False: bidirectional attention and a masked-token objective (mask_rate of the frames, in spans of
    # mask_span) instead of next-token prediction; extraction then needs right context too
    causal: bool = True
    mask_rate: float = 0.3
    mask_span: int = 8

    def pattern(self, layer: int) -> str:
        if self.attention == "dense":
            return "dense"
        return "local" if layer % 2 == 0 else "strided"

    def to_dict(self) -> dict:
        return asdict(self)


class SelfAttention(nn.Module):
    def __init__(self, cfg: PriorConfig, pattern: str):
        super().__init__()
        self.cfg, self.pattern = cfg, pattern
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, x):
        """``(batch, time, dim)`` -> same."""
        q, k, v = rearrange(self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.cfg.heads)
        y = sparse_attention(q, k, v, self.pattern, self.cfg.block, self.cfg.stride, self.cfg.taps, self.cfg.causal)
        return self.out(rearrange(y, "b h t d -> b t (h d)"))


class TransformerLayer(nn.Module):
    def __init__(self, cfg: PriorConfig, pattern: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = SelfAttention(cfg, pattern)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.mlp_ratio * cfg.dim), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class TokenPrior(nn.Module):
    """Autoregressive model of one level's tokens, optionally conditioned on the coarser level.

    Args:
        codebook_size: tokens of this level.
        cfg: transformer size and attention pattern.
        cond_codebook_size: tokens of the level above (None for the top prior).
        cond_ratio: frames of this level per frame of the level above.
    """

    def __init__(self, codebook_size: int, cfg: PriorConfig, cond_codebook_size: int | None = None,
                 cond_ratio: int = 1):
        super().__init__()
        self.cfg, self.codebook_size, self.cond_ratio = cfg, codebook_size, cond_ratio
        self.token_emb = nn.Embedding(codebook_size + 1, cfg.dim)  # last id = start token (causal) / mask (not)
        # a depthwise conv gives relative position without a length limit: causal, or centred
        self.pos_conv = nn.Conv1d(cfg.dim, cfg.dim, 8, groups=cfg.dim)
        self.pos_pad = (7, 0) if cfg.causal else (3, 4)
        self.cond_emb = nn.Embedding(cond_codebook_size, cfg.dim) if cond_codebook_size else None
        self.layers = nn.ModuleList(TransformerLayer(cfg, cfg.pattern(i)) for i in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, codebook_size)

    def _embed(self, tokens: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        x = self.token_emb(tokens)
        x = x + rearrange(self.pos_conv(F.pad(rearrange(x, "b t d -> b d t"), self.pos_pad)), "b d t -> b t d")
        if self.cond_emb is not None:
            if cond is None:
                raise ValueError("this prior is conditioned on the level above: pass cond")
            c = self.cond_emb(cond).repeat_interleave(self.cond_ratio, dim=1)
            if c.shape[1] < x.shape[1]:
                c = F.pad(c, (0, 0, 0, x.shape[1] - c.shape[1]))
            x = x + c[:, : x.shape[1]]
        return x

    def hidden_states(self, tokens: torch.Tensor, cond: torch.Tensor | None = None,
                      first: int = 0) -> list[torch.Tensor]:
        """Input embedding and every layer's output, each ``(batch, time - first, dim)``: frames ``first`` on;
        position ``t`` has seen tokens ``<= t`` (causal), or tokens on both sides within the receptive field.

        Frames before ``first`` are context only (extraction's past tokens). A causal prior then runs each
        layer only on the frames the layers above it read (:meth:`layer_starts`): fewer as it goes up, so
        the context costs about half what a full pass over it would."""
        x = self._embed(tokens, cond)
        starts = self.layer_starts(first) if self.cfg.causal else [0] * len(self.layers)
        states, offsets = [x], [0]
        for layer, start in zip(self.layers, starts, strict=True):
            x = layer(x[:, start - offsets[-1]:])
            states.append(x)
            offsets.append(start)
        return [s[:, first - off:] for s, off in zip(states, offsets, strict=True)]

    def layer_starts(self, first: int) -> list[int]:
        """The first input frame each layer must run on for every layer's output to be exact from frame ``first``
        on (causal priors): a local layer reads its block and the one before, a strided one ``taps - 1``
        strides back. Starts stay on multiples of the block and the stride, so the blocks of the local layers
        fall where a full pass puts them."""
        cfg = self.cfg
        align = math.lcm(cfg.block, cfg.stride)
        starts, s = [], first
        for i in reversed(range(cfg.layers)):
            pattern = cfg.pattern(i)
            if pattern == "local":
                s = (s // cfg.block - 1) * cfg.block
            elif pattern == "strided":
                s = s - (cfg.taps - 1) * cfg.stride
            else:  # dense: every earlier frame
                s = 0
            s = max(0, s // align * align)
            starts.append(s)
        return starts[::-1]

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits ``(batch, time, K)``: position ``t`` predicts ``tokens[:, t]`` from ``tokens[:, :t]``."""
        return self.logits_and_states(tokens, cond)[0]

    def logits_and_states(self, tokens: torch.Tensor,
                          cond: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Next-token logits and the hidden states of that pass (position ``t`` has seen tokens ``< t``):
        what teacher heads read during training, without a second pass."""
        if not self.cfg.causal:
            raise ValueError("next-token prediction needs a causal prior; a bidirectional one predicts masked tokens")
        start = torch.full_like(tokens[:, :1], self.codebook_size)
        shifted = torch.cat([start, tokens[:, :-1]], dim=1)
        states = self.hidden_states(shifted, cond)
        return self.head(self.norm(states[-1])), states

    def masked_logits_and_states(self, tokens: torch.Tensor, mask: torch.Tensor,
                                 cond: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Bidirectional priors: logits ``(batch, time, K)`` for every position and the hidden states of one
        pass over ``tokens`` ``(batch, time)`` whose ``mask`` ``(batch, time)`` positions are replaced by the
        mask id."""
        if self.cfg.causal:
            raise ValueError("masked-token prediction needs a bidirectional prior (causal=False)")
        states = self.hidden_states(tokens.masked_fill(mask, self.codebook_size), cond)
        return self.head(self.norm(states[-1])), states

    def nll(self, tokens: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Mean negative log-likelihood in nats: of the next token (causal), or of the masked tokens under a
        fixed span mask (bidirectional; the same mask for the same shape, so values compare)."""
        if self.cfg.causal:
            return nll_of(self(tokens, cond), tokens)
        mask = span_mask(tokens.shape, self.cfg.mask_rate, self.cfg.mask_span,
                         torch.Generator().manual_seed(0)).to(tokens.device)
        logits, _ = self.masked_logits_and_states(tokens, mask, cond)
        return masked_nll_of(logits, tokens, mask)


def span_mask(shape: tuple[int, int], rate: float, span: int, generator: torch.Generator | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
    """Bool ``(batch, time)``: spans of ``span`` frames starting at random frames with probability
    ``rate / span``, so about ``rate`` of the frames are masked (less where spans overlap); every row
    gets at least one span. Drawn on ``device`` (``generator``'s, if given): a GPU step then needs no
    copy from the host."""
    batch, time = shape
    if generator is not None:
        device = generator.device
    starts = torch.rand(batch, time, generator=generator, device=device) < rate / span
    starts[torch.arange(batch, device=device), torch.randint(0, time, (batch,), generator=generator, device=device)] = True
    mask = starts.clone()
    for k in range(1, span):
        mask[:, k:] |= starts[:, :-k]
    return mask


def nll_of(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood (nats) of ``tokens`` ``(batch, time)`` under ``logits`` ``(batch, time, K)``."""
    return F.cross_entropy(rearrange(logits, "b t k -> (b t) k"), tokens.flatten())


def masked_nll_of(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood (nats) of ``tokens`` ``(batch, time)`` at the ``mask`` positions only: a
    weighted mean, not a boolean selection, so the shapes stay fixed (no host sync on a GPU)."""
    per_token = F.cross_entropy(rearrange(logits, "b t k -> b k t"), tokens, reduction="none")
    weights = mask.to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum()
