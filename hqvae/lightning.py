"""Lightning modules for the two training stages."""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, Timer
from torch import nn

from hqvae.foundation import FoundationModel
from hqvae.prior import masked_nll_of, nll_of, span_mask


@dataclass(frozen=True)
class TeacherHeadSpec:
    """A teacher's targets as stage 2 sees them: ``channels`` per frame, scored by ``loss``
    (``"bce"`` for targets in [0, 1], ``"mse"``)."""

    name: str
    channels: int
    loss: str


def gumbel_temperature(step: int, warmup_steps: int = 100, decay: float = 3e-4, minimum: float = 0.5) -> float:
    """Stage-1 Gumbel-softmax temperature at ``step``: 1 until the warm-up ends, then exponential decay to ``minimum``."""
    return max(minimum, math.exp(-decay * max(0, step - warmup_steps)))


def cosine_factor(elapsed: float, budget: float) -> float:
    """Learning-rate factor of a cosine from 1 to 0 over ``budget`` seconds, at ``elapsed`` seconds."""
    return 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, elapsed / budget))))


class WallClockCosineLR(Callback):
    """Anneals every optimizer's learning rate from its base value to 0 along a cosine over the
    trainer's wall-clock budget (``max_time``), after a linear warm-up of ``warmup_steps`` steps.

    The schedule runs on the trainer's own ``Timer``, whose elapsed time is saved in checkpoints,
    so a resumed run picks up the schedule where it stopped. A step count cannot be known in
    advance for a wall-clock budget; time is what the budget is in.
    """

    def __init__(self, warmup_steps: int = 0):
        self.warmup_steps = warmup_steps
        self.timer: Timer | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        timers = [c for c in trainer.callbacks if isinstance(c, Timer)]
        if not timers or timers[0]._duration is None:
            raise ValueError("WallClockCosineLR needs a trainer with max_time")
        self.timer = timers[0]
        # each group's base rate; a resumed optimizer brings it back from its checkpoint
        for opt in trainer.optimizers:
            for g in opt.param_groups:
                g.setdefault("initial_lr", g["lr"])

    def factor(self, trainer) -> float:
        warm = min(1.0, (trainer.global_step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return warm * cosine_factor(self.timer.time_elapsed("train"), self.timer._duration)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        f = self.factor(trainer)
        for opt in trainer.optimizers:
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] * f
        pl_module.log("lr_factor", f)


class Stage1Module(L.LightningModule):
    """Trains the codec on waveform crops ``(batch, samples)``.

    The first ``warmup_steps`` run unquantized so the encoder has real features to k-means
    initialise the codebooks from; the Gumbel temperature then decays from 1 to ``min_temperature``.

    ``step_offset`` is the number of stage-1 steps the codec had already trained when this run
    started from its weights (``booster pretrain --init``): the warm-up is not redone and the
    temperature goes on from where that training left it.
    """

    def __init__(self, model: FoundationModel, lr: float = 1e-3, warmup_steps: int = 100,
                 temperature_decay: float = 3e-4, min_temperature: float = 0.5, step_offset: int = 0):
        super().__init__()
        self.model = model
        self.lr, self.warmup_steps, self.step_offset = lr, warmup_steps, step_offset
        self.temperature_decay, self.min_temperature = temperature_decay, min_temperature

    @property
    def codec_step(self) -> int:
        """Stage-1 steps the codec has trained in all, earlier runs included."""
        return self.step_offset + self.global_step

    def temperature(self) -> float:
        return gumbel_temperature(self.codec_step, self.warmup_steps, self.temperature_decay, self.min_temperature)

    def training_step(self, batch, batch_idx):
        quantize = self.codec_step >= self.warmup_steps
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
    """Trains every level's prior on tokens of the frozen codec: by next-token NLL, or by masked-token NLL
    for a bidirectional prior (``FoundationConfig.bidirectional_levels``); teacher heads on either.

    Its checkpoints hold the priors only: the codec is stage 1's, so resuming stage 2 after stage 1
    was trained on never puts back the codec the priors started on (it did: a continued stage 1 was
    silently undone by the stage-2 resume).
    """

    def __init__(self, model: FoundationModel, lr: float = 1e-3, teachers: list[TeacherHeadSpec] | None = None,
                 teacher_layer: int | None = None, teacher_levels: tuple[str, ...] | None = None,
                 teacher_weight: float = 1.0, levels: tuple[str, ...] | None = None,
                 contrastive_weight: float = 0.0, contrastive_temperature: float = 0.1, teacher_delay: int = 0,
                 readout_teacher: TeacherHeadSpec | list[TeacherHeadSpec] | None = None, train_priors: bool = True,
                 readout_weights: list[float] | None = None):
        super().__init__()
        self.model, self.lr = model, lr
        # the model's readout stack (hqvae.readout) learns these teachers' targets (one spec or several, their
        # channels side by side in its head); with train_priors False the priors are frozen and only the readout trains
        if isinstance(readout_teacher, TeacherHeadSpec):
            readout_teacher = [readout_teacher]
        self.readout_teachers = list(readout_teacher or [])
        if self.readout_teachers and model.readout is None:
            raise ValueError("readout_teacher needs a model with a readout (FoundationConfig.readout)")
        if not train_priors and not self.readout_teachers:
            raise ValueError("with the priors frozen, only a readout is left to train: give readout_teacher")
        # each readout teacher's loss weight (the trunk is shared: a larger loss would take it over)
        self.readout_weights = list(readout_weights) if readout_weights else [1.0] * len(self.readout_teachers)
        if len(self.readout_weights) != len(self.readout_teachers):
            raise ValueError(f"{len(self.readout_weights)} readout weights for {len(self.readout_teachers)} teachers")
        self.train_priors = train_priors
        # the priors trained here (default all); the others keep their weights
        self.levels = tuple(levels or model.levels)
        unknown = set(self.levels) - set(model.levels)
        if unknown:
            raise ValueError(f"unknown prior levels {sorted(unknown)}; the model has {list(model.levels)}")
        self.model.codec.requires_grad_(False)
        self.strict_loading = False  # the codec's weights are not in the checkpoint
        # teacher heads: one linear map per (level, teacher) from a prior layer's states to the
        # teacher's targets; they exist only in training (not in the saved booster checkpoint)
        self.teachers = list(teachers or [])
        self.teacher_layer = teacher_layer if teacher_layer is not None else model.config.prior.layers
        self.teacher_levels = tuple(lv for lv in (teacher_levels or model.levels[:2]) if lv in self.levels)
        self.teacher_weight = teacher_weight
        # frames of the top level by which the head reads later than the frame it predicts: the state
        # at ``t + delay`` has seen ``delay`` frames of right context (a causal stack's only way to)
        if teacher_delay < 0:
            raise ValueError(f"teacher_delay must be >= 0 (got {teacher_delay})")
        self.teacher_delay = teacher_delay
        dim = model.config.prior.dim
        self.teacher_heads = nn.ModuleDict({f"{lv}__{t.name}": nn.Linear(dim, t.channels)
                                            for lv in self.teacher_levels for t in self.teachers})
        # contrastive: the time-pooled states of two crops of one file should match each other and
        # no other crop in the batch (COLA-style InfoNCE); pairs are consecutive batch items
        self.contrastive_weight, self.contrastive_temperature = contrastive_weight, contrastive_temperature
        self.contrastive_heads = nn.ModuleDict(
            {lv: nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim)) for lv in self.teacher_levels}
            if contrastive_weight > 0 else {})

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
        """``batch``: audio ``(batch, samples)``; or ``{"audio": ..., "teachers": ...}``; or, from a token
        corpus, ``{"tokens": {level: (batch, frames)}, "teachers": ...}`` (no codec pass)."""
        if torch.is_tensor(batch):
            batch = {"audio": batch}
        targets = batch.get("teachers", {})
        if "tokens" in batch:
            tokens = batch["tokens"]
        else:
            self.model.codec.eval()
            with torch.no_grad():
                tokens = self.model.codec.encode(batch["audio"])
        levels = self.model.levels
        loss = 0.0
        if self.readout_teachers:
            for t, w, r_loss in zip(self.readout_teachers, self.readout_weights, self.readout_losses(tokens, targets),
                                    strict=True):
                self.log(f"stage2/readout_{t.name}", r_loss)  # unweighted: comparable between runs
                loss = loss + w * r_loss
        for i, level in enumerate(levels):
            if level not in self.levels or not self.train_priors:
                continue
            cond = tokens[levels[i - 1]] if i > 0 else None
            prior = self.model.priors[level]
            if prior.cfg.causal:
                logits, states = prior.logits_and_states(tokens[level], cond)
                nll = nll_of(logits, tokens[level])
            else:  # masked-token prediction: the loss is on the masked frames only
                mask = span_mask(tokens[level].shape, prior.cfg.mask_rate, prior.cfg.mask_span,
                                 device=tokens[level].device)
                logits, states = prior.masked_logits_and_states(tokens[level], mask, cond)
                nll = masked_nll_of(logits, tokens[level], mask)
            self.log(f"stage2/{level}_nll", nll)
            loss = loss + nll
            if level not in self.teacher_levels:
                continue
            if self.contrastive_weight > 0:
                c_loss = self.contrastive_loss(self.contrastive_heads[level](states[self.teacher_layer].mean(dim=1)))
                self.log(f"stage2/{level}_contrastive", c_loss)
                loss = loss + self.contrastive_weight * c_loss
            for t in self.teachers:
                pred, y = self.teacher_prediction(level, t.name, states, targets[t.name])
                t_loss = (F.binary_cross_entropy_with_logits(pred, y) if t.loss == "bce" else F.mse_loss(pred, y))
                self.log(f"stage2/{level}_{t.name}", t_loss)
                loss = loss + self.teacher_weight * t_loss
        self.log("stage2/loss", loss, prog_bar=True)
        return loss

    def readout_losses(self, tokens: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The readout's loss on each of its teachers' targets ``(batch, top frames, channels)``. It reads the
        priors' states as extraction gives them (one unshifted pass: frame ``t`` has seen its own token), not the
        next-token pass; without gradient into frozen priors."""
        top, below = self.model.levels[:2]
        src = self.model.config.readout.source_layers
        top_in = [self.model.codec.embed(top, tokens[top])]
        below_in = [self.model.codec.embed(below, tokens[below])]
        if src:  # (a readout of the code vectors alone needs no prior pass)
            with torch.set_grad_enabled(self.train_priors and torch.is_grad_enabled()):
                ts = self.model.priors[top].hidden_states(tokens[top])
                bs = self.model.priors[below].hidden_states(tokens[below], tokens[top])
            top_in += [ts[j] for j in src]
            below_in += [bs[j] for j in src]
        readout = self.model.readout
        return readout.losses(readout.hidden_states(top_in, below_in), [targets[t.name] for t in self.readout_teachers],
                              [t.loss for t in self.readout_teachers])

    def teacher_prediction(self, level: str, teacher: str, states: list[torch.Tensor],
                           targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's prediction for each frame of this level and the matching targets, both
        ``(batch, frames - 1, channels)`` (``frames`` for a bidirectional prior, whose position ``t`` holds
        frame ``t``).

        ``states`` come from the next-token pass, where position ``t`` has seen tokens ``< t``; so frame
        ``t`` is predicted from position ``t + 1``, which has seen tokens ``<= t``: what extraction's
        feature at frame ``t`` has seen. (Reading position ``t`` asked the head to guess a frame's
        pitch without its own token.) With ``teacher_delay`` ``d`` (top frames; ``d * ratio`` frames of a
        level ``ratio`` times finer), frame ``t`` is predicted from position ``t + 1 + d``, and the last
        ``d`` frames of a crop have no prediction. ``targets``: ``(batch, top frames, channels)`` on the top grid.
        """
        ratio = states[0].shape[1] // targets.shape[1]
        shift = 1 if self.model.priors[level].cfg.causal else 0  # a bidirectional pass is not shifted
        h = states[self.teacher_layer][:, shift + self.teacher_delay * ratio:]
        y = targets.repeat_interleave(ratio, dim=1)[:, : h.shape[1]]
        return self.teacher_heads[f"{level}__{teacher}"](h[:, : y.shape[1]]), y

    def contrastive_loss(self, z: torch.Tensor) -> torch.Tensor:
        """InfoNCE over ``z`` ``(batch, dim)`` whose items ``2j`` and ``2j + 1`` come from one file."""
        z = F.normalize(z, dim=-1)
        sim = z @ z.T / self.contrastive_temperature
        sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
        partner = torch.arange(len(z), device=z.device) ^ 1
        return F.cross_entropy(sim, partner)

    def configure_optimizers(self):
        params = [p for lv in self.levels for p in self.model.priors[lv].parameters()] if self.train_priors else []
        params += list(self.teacher_heads.parameters()) + list(self.contrastive_heads.parameters())
        if self.readout_teachers:
            params += list(self.model.readout.parameters())
        return torch.optim.Adam(params, lr=self.lr)
