"""The whole foundation model: the stage-1 codec and one stage-2 prior per level."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from hqvae.model import HQVAE, HQVAEConfig
from hqvae.prior import PriorConfig, TokenPrior
from hqvae.readout import Readout, ReadoutConfig


@dataclass
class FoundationConfig:
    codec: HQVAEConfig = field(default_factory=HQVAEConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    # transformer layers (1-based; 0 = input embedding) whose hidden states are booster features
    feature_layers: tuple[int, ...] = (2, 4)
    with_priors: bool = True
    # delayed readout, in top-level frames: a layer feature of frame t is the prior's state at t + delay
    # (the same duration at every level), so a causal stack's feature has seen `delay` frames of right
    # context; set by training teacher heads that read the same delay (Stage2Module.teacher_delay)
    feature_delay: int = 0
    # levels whose prior is bidirectional (a masked-token model, PriorConfig.causal False); the others
    # are next-token priors
    bidirectional_levels: tuple[str, ...] = ()
    # a bidirectional readout stack over the two coarsest levels (hqvae.readout), trained on a teacher;
    # its layer states are the features ``readout.layer{i}``
    readout: ReadoutConfig | None = None

    def to_dict(self) -> dict:
        return {"codec": self.codec.to_dict(), "prior": self.prior.to_dict(),
                "feature_layers": list(self.feature_layers), "with_priors": self.with_priors,
                "feature_delay": self.feature_delay, "bidirectional_levels": list(self.bidirectional_levels),
                "readout": self.readout.to_dict() if self.readout else None}

    @classmethod
    def from_dict(cls, d: dict) -> FoundationConfig:
        readout = d.get("readout")
        return cls(HQVAEConfig.from_dict(d["codec"]), PriorConfig(**d["prior"]),
                   tuple(d.get("feature_layers", (2, 4))), bool(d.get("with_priors", True)),
                   int(d.get("feature_delay", 0)), tuple(d.get("bidirectional_levels", ())),
                   ReadoutConfig.from_dict(readout) if readout else None)

    def prior_config(self, level: str) -> PriorConfig:
        """The prior of ``level``: the shared :attr:`prior` settings, bidirectional where asked."""
        return replace(self.prior, causal=False) if level in self.bidirectional_levels else self.prior

    def delay_frames(self, level: str) -> int:
        """:attr:`feature_delay` in frames of ``level``."""
        hops = self.codec.hops
        return self.feature_delay * hops[self.codec.levels[0]] // hops[level]


CONFIGS = {
    # ~1.5 M parameters: trains on two CPU cores in under an hour
    "tiny": lambda: FoundationConfig(),
    # a few thousand parameters, for tests
    "micro": lambda: FoundationConfig(
        HQVAEConfig(channels=(8, 16, 16), latent_dim=8, codebook_size=32),
        PriorConfig(dim=32, layers=2, heads=2, block=8, stride=8, taps=4), feature_layers=(1, 2)),
}


class FoundationModel(nn.Module):
    def __init__(self, config: FoundationConfig | None = None):
        super().__init__()
        self.config = cfg = config or FoundationConfig()
        self.codec = HQVAE(cfg.codec)
        levels = cfg.codec.levels
        hops = cfg.codec.hops
        self.priors = nn.ModuleDict()
        unknown = set(cfg.bidirectional_levels) - set(levels)
        if unknown:
            raise ValueError(f"bidirectional_levels {sorted(unknown)} are not levels of this model ({list(levels)})")
        if cfg.with_priors:
            for i, level in enumerate(levels):
                above = levels[i - 1] if i > 0 else None
                self.priors[level] = TokenPrior(
                    cfg.codec.codebook_size, cfg.prior_config(level),
                    cond_codebook_size=cfg.codec.codebook_size if above else None,
                    cond_ratio=hops[above] // hops[level] if above else 1)
        self.readout = None
        if cfg.readout is not None:
            missing = set(cfg.readout.source_layers) - set(cfg.feature_layers)
            if not cfg.with_priors or len(levels) < 2 or missing:
                raise ValueError("a readout needs priors on at least two levels and reads feature layers only "
                                 f"(source layers {list(cfg.readout.source_layers)}, feature layers "
                                 f"{list(cfg.feature_layers)})")
            self.readout = Readout(cfg.readout, cfg.prior.dim, cfg.codec.latent_dim, hops[levels[0]] // hops[levels[1]])

    @property
    def levels(self) -> tuple[str, ...]:
        return self.config.codec.levels

    def prior_nll(self, tokens: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """NLL (nats) per level for tokens ``level -> (batch, frames)``: next-token, or masked-token for a
        bidirectional prior (:meth:`hqvae.prior.TokenPrior.nll`)."""
        out = {}
        for i, level in enumerate(self.levels):
            cond = tokens[self.levels[i - 1]] if i > 0 else None
            out[level] = self.priors[level].nll(tokens[level], cond)
        return out
