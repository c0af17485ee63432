"""Stage 1: the hierarchical quantized VAE (HQ-VAE with an injected top-down path).

Levels run coarse to fine (``top`` hop 128, ``mid`` hop 32, ``fine`` hop 8 at 22.05 kHz).
Bottom-up, the encoder stages produce features at each hop. Top-down, the top latent is
quantized first; its decoded features are *injected* into the next level's latent (the
SQ-VAE-2 / HQ-VAE "injected top-down" path), so finer levels only code what the coarser
ones left out; then the decoder turns the sum of all levels' contributions into a waveform.

The same class with ``quantizer="vq"`` is the VQ-VAE-2 style baseline (EMA VQ from
``vector-quantize-pytorch``) of identical size and bitrate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from hqvae.decoder import DecoderStage
from hqvae.encoder import EncoderStage
from hqvae.losses import multi_resolution_stft
from hqvae.quantize import QUANTIZERS


@dataclass
class HQVAEConfig:
    sample_rate: int = 22050
    levels: tuple[str, ...] = ("top", "mid", "fine")  # coarse to fine
    # encoder strides per stage, fine stage first: hops 8, 32, 128
    strides: tuple[tuple[int, ...], ...] = ((2, 2, 2), (2, 2), (2, 2))
    channels: tuple[int, ...] = (32, 64, 96)  # per stage, fine first
    latent_dim: int = 32
    codebook_size: int = 256
    quantizer: str = "sq"  # "sq" (HQ-VAE) or "vq" (baseline)
    # In training, with this probability the finest levels' contributions are dropped (a random
    # number of them) so that coarse levels must carry the essentials, as quantizer dropout does
    # for RVQ; without it the decoder can rebuild everything from the fine level and the top
    # level's posterior collapses to uniform, which the ELBO alone does not prevent.
    level_dropout: float = 0.5
    # Weight of the KL (rate) terms of the ELBO. At 1 the rate term wins on a minutes-long CPU
    # budget: the variance grows, the posterior spreads over many codes and the decoder learns from
    # near-random codes (docs/results/hqvae-diagnosis). At 0.01 the variance anneals by itself.
    kl_weight: float = 0.01
    stft_weight: float = 1.0
    init_log_var: float = 1.0  # stochastic quantizer: starting log sigma^2 of every level (broad posterior)
    top_k: int = 16  # stochastic quantizer: codes per frame in the training relaxation
    # stochastic quantizer: training decodes a code *sampled* from the posterior (Gumbel-max, with
    # the Gumbel-softmax gradient) instead of the soft blend of codes
    hard_sample: bool = True
    # stochastic quantizer: a code whose hits per step (EMA) fall below this is moved onto a latent
    # of the batch; 2 is the VQ baseline's dead-code threshold. At 0.1 rarely used codes lingered and
    # held-out perplexity stayed at 125-166 of 256 against the baseline's 186-233
    # (docs/results/hqvae-diagnosis, round 4).
    restart_threshold: float = 2.0
    # stochastic quantizer: 0 moves the codes by gradient (SQ-VAE); D > 0 by soft EM, an EMA with
    # decay D of the posterior-weighted latent means
    codebook_decay: float = 0.0

    @property
    def hops(self) -> dict[str, int]:
        """Samples per token of each level."""
        hops, h = [], 1
        for s in self.strides:
            h *= math.prod(s)
            hops.append(h)
        return dict(zip(self.levels, reversed(hops), strict=True))

    @property
    def total_hop(self) -> int:
        return max(self.hops.values())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HQVAEConfig:
        d = dict(d)
        d["levels"] = tuple(d["levels"])
        d["strides"] = tuple(tuple(s) for s in d["strides"])
        d["channels"] = tuple(d["channels"])
        return cls(**d)


@dataclass
class HQVAEOutput:
    reconstruction: torch.Tensor  # (batch, samples)
    indices: dict[str, torch.Tensor]  # level -> (batch, frames)
    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


class HQVAE(nn.Module):
    def __init__(self, config: HQVAEConfig | None = None):
        super().__init__()
        self.config = cfg = config or HQVAEConfig()
        n = len(cfg.levels)
        if len(cfg.strides) != n or len(cfg.channels) != n:
            raise ValueError("strides and channels need one entry per level")
        # stages indexed fine (0) to coarse (n-1)
        ins = [1, *cfg.channels[:-1]]
        self.encoders = nn.ModuleList(EncoderStage(ins[i], cfg.channels[i], cfg.strides[i]) for i in range(n))
        # latent at stage i sees the encoder features and (below the top) the top-down features
        self.to_latent = nn.ModuleList(
            nn.Conv1d(cfg.channels[i] * (1 if i == n - 1 else 2), cfg.latent_dim, 3, padding=1) for i in range(n))
        self.latent_norms = nn.ModuleList(nn.BatchNorm1d(cfg.latent_dim, affine=False) for _ in range(n))
        self.from_latent = nn.ModuleList(nn.Conv1d(cfg.latent_dim, cfg.channels[i], 3, padding=1) for i in range(n))
        sq_args = {"init_log_var": cfg.init_log_var, "top_k": cfg.top_k, "hard": cfg.hard_sample,
                   "restart_threshold": cfg.restart_threshold, "codebook_decay": cfg.codebook_decay} if cfg.quantizer == "sq" else {}
        self.quantizers = nn.ModuleList(QUANTIZERS[cfg.quantizer](cfg.latent_dim, cfg.codebook_size, **sq_args)
                                        for _ in range(n))
        self.decoders = nn.ModuleList(
            DecoderStage(cfg.channels[i], 1 if i == 0 else cfg.channels[i - 1], cfg.strides[i], final=(i == 0))
            for i in range(n))

    @property
    def levels(self) -> tuple[str, ...]:
        return self.config.levels

    def _stage(self, level: str) -> int:
        return len(self.levels) - 1 - self.levels.index(level)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Right-pad ``(batch, samples)`` to a multiple of the coarsest hop."""
        rem = (-x.shape[-1]) % self.config.total_hop
        return torch.nn.functional.pad(x, (0, rem)) if rem else x

    def encode_bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = rearrange(x, "b t -> b 1 t")
        feats = []
        for enc in self.encoders:
            h = enc(h)
            feats.append(h)
        return feats

    def _latent(self, i: int, feat: torch.Tensor, top_down: torch.Tensor | None) -> torch.Tensor:
        """Latent ``(batch, frames, latent_dim)`` of stage ``i`` from encoder features and the top-down path."""
        h = feat if top_down is None else torch.cat([feat, top_down], dim=1)
        # Latents standardised per dimension over frames (BatchNorm without affine): codes and
        # latents share one scale, so the variance means the same at every level, and a level
        # cannot fall silent by emitting one constant vector (its frames must spread out).
        # Then each frame is put on the sphere (LayerNorm) so a few loud outlier frames cannot
        # claim the codebook.
        z = rearrange(self.latent_norms[i](self.to_latent[i](h)), "b d t -> b t d")
        return F.layer_norm(z, (self.config.latent_dim,))

    def _step_down(self, i: int, q: torch.Tensor, top_down: torch.Tensor | None, drop: bool = False) -> torch.Tensor:
        """Add stage ``i``'s quantized contribution ``(batch, frames, latent_dim)`` to the top-down path and decode
        one stage finer (stage 0 decodes to the waveform ``(batch, 1, samples)``)."""
        contribution = self.from_latent[i](rearrange(q, "b t d -> b d t"))
        if drop:
            contribution = torch.zeros_like(contribution)
        d = contribution if top_down is None else top_down + contribution
        return self.decoders[i](d)

    def forward(self, x: torch.Tensor, temperature: float = 1.0, quantize: bool = True) -> HQVAEOutput:
        """``x``: (batch, samples) with samples a multiple of the top hop.

        ``quantize=False`` passes latents through unquantized: the warm-up that gives the
        encoder meaningful features before the codebooks are k-means initialised from them.
        """
        feats = self.encode_bottom_up(x)
        n = len(self.levels)
        indices, logs = {}, {}
        kl = x.new_zeros(())
        top_down = None
        keep_from = 0  # stages below this index contribute nothing this step
        if self.training and torch.rand(()) < self.config.level_dropout:
            keep_from = int(torch.randint(1, n, ()))
        for i in reversed(range(n)):
            level = self.levels[n - 1 - i]
            z = self._latent(i, feats[i], top_down)
            if quantize:
                q, idx, q_loss, stats = self.quantizers[i](z, temperature)
            else:
                q, idx, q_loss, stats = z, z.new_zeros(z.shape[:2], dtype=torch.long), z.new_zeros(()), {}
            top_down = self._step_down(i, q, top_down, drop=i < keep_from)
            kl = kl + q_loss
            indices[level] = idx
            for k, v in stats.items():
                logs[f"{level}/{k}"] = v
        x_hat = rearrange(top_down, "b 1 t -> b t")
        mse = (x_hat - x).pow(2).mean()
        stft = multi_resolution_stft(x_hat, x)
        if self.config.quantizer == "sq":
            # Gaussian likelihood with its variance at the optimum (SQ-VAE): per-sample 0.5 log MSE;
            # the KL is per batch item, so divide by samples per item to put both on one scale
            loss = 0.5 * torch.log(mse + 1e-8) + self.config.kl_weight * kl / x.shape[-1] + self.config.stft_weight * stft
        else:
            loss = 0.5 * torch.log(mse + 1e-8) + kl + self.config.stft_weight * stft
        logs.update({"mse": mse.detach(), "stft": stft.detach(), "quant_loss": kl.detach()})
        return HQVAEOutput(x_hat, indices, loss, logs)

    @torch.no_grad()
    def encode_latents(self, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per level (coarse to fine): the latent ``(batch, frames_level, latent_dim)`` and its token
        ``(batch, frames_level)``; deterministic (argmax). Runs only what tokens depend on: no
        waveform decoder stage, no loss."""
        was = self.training
        self.eval()
        feats = self.encode_bottom_up(self.pad(x))
        n = len(self.levels)
        out, top_down = {}, None
        for i in reversed(range(n)):
            z = self._latent(i, feats[i], top_down)
            idx = self.quantizers[i].nearest(z)
            out[self.levels[n - 1 - i]] = (z, idx)
            if i > 0:
                top_down = self._step_down(i, self.quantizers[i].embed(idx), top_down)
        self.train(was)
        return out

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Tokens per level (coarse to fine), each ``(batch, frames_level)``; deterministic (argmax)."""
        return {level: idx for level, (_, idx) in self.encode_latents(x).items()}

    def decode(self, indices: dict[str, torch.Tensor]) -> torch.Tensor:
        """Waveform ``(batch, samples)`` from tokens of every level."""
        n = len(self.levels)
        top_down = None
        for i in reversed(range(n)):
            top_down = self._step_down(i, self.quantizers[i].embed(indices[self.levels[n - 1 - i]]), top_down)
        return rearrange(top_down, "b 1 t -> b t")

    def embed(self, level: str, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors ``(batch, frames, latent_dim)`` of one level's tokens."""
        return self.quantizers[self._stage(level)].embed(indices)
