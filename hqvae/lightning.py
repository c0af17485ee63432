"""Lightning modules for the two training stages."""

from __future__ import annotations

import math

import lightning as L
import torch

from hqvae.foundation import FoundationModel


def gumbel_temperature(step: int, warmup_steps: int = 100, decay: float = 3e-4, minimum: float = 0.5) -> float:
    """Stage-1 Gumbel-softmax temperature at ``step``: 1 until the warm-up ends, then exponential decay to ``minimum``."""
    return max(minimum, math.exp(-decay * max(0, step - warmup_steps)))


class Stage1Module(L.LightningModule):
    """Trains the codec on waveform crops ``(batch, samples)``.

    The first ``warmup_steps`` run unquantized so the encoder has real features to k-means
    initialise the codebooks from; the Gumbel temperature then decays from 1 to ``min_temperature``.
    """

    def __init__(self, model: FoundationModel, lr: float = 1e-3, warmup_steps: int = 100,
                 temperature_decay: float = 3e-4, min_temperature: float = 0.5):
        super().__init__()
        self.model = model
        self.lr, self.warmup_steps = lr, warmup_steps
        self.temperature_decay, self.min_temperature = temperature_decay, min_temperature

    def temperature(self) -> float:
        return gumbel_temperature(self.global_step, self.warmup_steps, self.temperature_decay, self.min_temperature)

    def training_step(self, batch, batch_idx):
        quantize = self.global_step >= self.warmup_steps
        out = self.model.codec(batch, self.temperature(), quantize=quantize)
        self.log("stage1/loss", out.loss, prog_bar=True)
        self.log("stage1/temperature", self.temperature())
        for k, v in out.logs.items():
            self.log(f"stage1/{k}", v, prog_bar=k in ("top/usage", "fine/usage"))
        return out.loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.codec.parameters(), lr=self.lr)


class Stage2Module(L.LightningModule):
    """Trains every level's prior by next-token NLL on tokens of the frozen codec."""

    def __init__(self, model: FoundationModel, lr: float = 1e-3):
        super().__init__()
        self.model, self.lr = model, lr
        self.model.codec.requires_grad_(False)

    def training_step(self, batch, batch_idx):
        self.model.codec.eval()
        with torch.no_grad():
            tokens = self.model.codec.encode(batch)
        nll = self.model.prior_nll(tokens)
        loss = sum(nll.values())
        self.log("stage2/loss", loss, prog_bar=True)
        for level, v in nll.items():
            self.log(f"stage2/{level}_nll", v)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.priors.parameters(), lr=self.lr)
