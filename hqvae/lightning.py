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


_CODEC_KEYS = "model.codec."  # prefix of the codec's entries in a module's state dict


class Stage2Module(L.LightningModule):
    """Trains every level's prior by next-token NLL on tokens of the frozen codec.

    Its checkpoints hold the priors only: the codec is stage 1's, so resuming stage 2 after stage 1
    was trained on never puts back the codec the priors started on (it did: a continued stage 1 was
    silently undone by the stage-2 resume).
    """

    def __init__(self, model: FoundationModel, lr: float = 1e-3):
        super().__init__()
        self.model, self.lr = model, lr
        self.model.codec.requires_grad_(False)
        self.strict_loading = False  # the codec's weights are not in the checkpoint

    @staticmethod
    def _drop_codec(checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(_CODEC_KEYS)]:
            del state[key]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._drop_codec(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._drop_codec(checkpoint)  # checkpoints written before the codec was left out
        missing = [k for k in self.state_dict() if not k.startswith(_CODEC_KEYS) and k not in checkpoint["state_dict"]]
        if missing:
            raise ValueError(f"stage-2 checkpoint lacks prior weights {missing[:3]}...; delete it to train stage 2 afresh")

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
