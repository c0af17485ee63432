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

    def hidden_states(self, tokens: torch.Tensor, cond: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Input embedding and every layer's output, each ``(batch, time, dim)``; position ``t`` has seen tokens
        ``<= t`` (causal), or tokens on both sides within the receptive field. (A stream of windows:
        :class:`PriorStream`.)"""
        x = self._embed(tokens, cond)
        states = [x]
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        return states

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


class PriorStream:
    """Hidden states of a causal :class:`TokenPrior` over a token stream fed in consecutive windows, equal to one
    pass over the whole stream (up to float rounding).

    Each layer keeps the last frames of its input that its attention reads (a local layer the block before, a
    strided one ``taps - 1`` strides back), and the embedding keeps the tokens its positional conv reads and their
    conditioning: no frame is computed twice. Re-running every layer over a receptive field of past tokens
    (:meth:`TokenPrior.hidden_states` over the window and its past) cost 1.1x (mid) to 1.5x (top) the frames of
    a 12 s window.

    Every window but the last must be a multiple of :attr:`align` frames long (kept histories start on multiples
    of it, so the local layers' blocks fall where a single pass puts them, and the conditioning stays aligned).
    """

    @staticmethod
    def supports(prior: TokenPrior) -> bool:
        """Whether ``prior`` can be streamed: causal, with sparse (block-local/strided) attention."""
        return prior.cfg.causal and prior.cfg.attention == "sparse"

    def __init__(self, prior: TokenPrior):
        cfg = prior.cfg
        if not self.supports(prior):
            raise ValueError("a prior stream needs a causal prior with sparse attention")
        self.prior = prior
        self.align = math.lcm(cfg.block, cfg.stride, prior.cond_ratio)
        self.reach = [cfg.block if cfg.pattern(i) == "local" else (cfg.taps - 1) * cfg.stride
                      for i in range(cfg.layers)]
        self.frames = 0  # frames fed so far
        self.tokens: torch.Tensor | None = None  # tokens (batch, t) from frame token_start, for the positional conv
        self.cond: torch.Tensor | None = None  # the level above's tokens from frame token_start // cond_ratio
        self.token_start = 0
        self.inputs: list[tuple[int, torch.Tensor] | None] = [None] * cfg.layers  # (first frame, layer input)

    def _kept_from(self, end: int, back: int) -> int:
        return max(0, (end - back) // self.align * self.align)

    def __call__(self, tokens: torch.Tensor, cond: torch.Tensor | None = None) -> list[torch.Tensor]:
        """States of the new frames: input embedding and every layer's output, each ``(batch, frames, dim)``, for
        ``tokens`` ``(batch, frames)`` and (a conditioned prior) ``cond`` ``(batch, frames / cond_ratio)``, the
        level above's tokens over the same span."""
        if self.frames % self.align:
            raise ValueError(f"only the last window may be shorter than a multiple of {self.align} frames")
        n, end = tokens.shape[1], self.frames + tokens.shape[1]
        seq = tokens if self.tokens is None else torch.cat([self.tokens, tokens], dim=1)
        cseq = cond if self.cond is None or cond is None else torch.cat([self.cond, cond], dim=1)
        x = self.prior._embed(seq, cseq)[:, -n:]
        start = self._kept_from(end, self.prior.pos_conv.kernel_size[0])  # what the causal positional conv reads
        self.tokens = seq[:, start - self.token_start:]
        if cseq is not None:
            self.cond = cseq[:, (start - self.token_start) // self.prior.cond_ratio:]
        self.token_start = start
        states = [x]
        for i, layer in enumerate(self.prior.layers):
            kept = self.inputs[i]
            first, inputs = (self.frames, x) if kept is None else (kept[0], torch.cat([kept[1], x], dim=1))
            keep = self._kept_from(end, self.reach[i])
            self.inputs[i] = (keep, inputs[:, keep - first:])
            x = layer(inputs)[:, -n:]
            states.append(x)
        self.frames = end
        return states


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
