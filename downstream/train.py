"""Training shared by every task: random crops, Lightning, early stopping on validation, best weights kept."""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@dataclass
class TrainConfig:
    """How one cell trains. It stops on validation patience; ``max_minutes`` (wall clock) is the cap
    that a cell should not reach (a cell that does is reported as not converged); ``max_steps`` is an
    optional hard cap for quick runs and tests."""

    max_steps: int = 10**6
    max_minutes: float = 15.0
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_every: int = 50  # steps between validations
    patience: int = 6  # validations without improvement before stopping
    crop_frames: int = 150  # 3 s at 50 frames/s
    threads: int = 1


class CropDataset(Dataset):
    """Random crops of ``crop`` frames, at the same position in every timed array of a track.

    ``timed[key][track]``: ``(frames, ...)`` arrays on one frame grid (spectrogram, booster
    features, frame targets); ``static[key][track]``: per-track arrays (tag vectors). Item ``i``
    is fixed by ``(seed, i)``, so a run is repeatable; tracks shorter than ``crop`` are zero-padded.
    """

    def __init__(self, tracks: list[str], timed: dict[str, dict[str, np.ndarray]],
                 static: dict[str, dict[str, np.ndarray]] | None = None, crop: int = 150, seed: int = 0,
                 length: int = 10**6):
        if not tracks:
            raise ValueError("no training tracks")
        self.tracks, self.timed, self.static = tracks, timed, static or {}
        self.crop, self.seed, self.length = crop, seed, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, i))
        track = self.tracks[int(rng.integers(len(self.tracks)))]
        n = min(len(a[track]) for a in self.timed.values())
        start = int(rng.integers(0, max(1, n - self.crop + 1)))
        item = {}
        for key, arrays in self.timed.items():
            x = arrays[track][start:start + self.crop]
            if len(x) < self.crop:
                x = np.concatenate([x, np.zeros((self.crop - len(x), *x.shape[1:]), x.dtype)])
            item[key] = torch.from_numpy(np.ascontiguousarray(x))
        for key, arrays in self.static.items():
            item[key] = torch.from_numpy(arrays[track])
        return item


class WholeTracks(Dataset):
    """Whole tracks, one per item (lengths differ between datasets: batch size 1)."""

    def __init__(self, tracks: list[str], timed: dict[str, dict[str, np.ndarray]],
                 static: dict[str, dict[str, np.ndarray]] | None = None):
        self.tracks, self.timed, self.static = tracks, timed, static or {}

    def __len__(self) -> int:
        return len(self.tracks)

    def __getitem__(self, i: int) -> dict:
        t = self.tracks[i]
        n = min(len(a[t]) for a in self.timed.values())
        item = {k: torch.from_numpy(np.ascontiguousarray(a[t][:n])) for k, a in self.timed.items()}
        item.update({k: torch.from_numpy(a[t]) for k, a in self.static.items()})
        item["track"] = t
        return item


def _lightning_module(model: nn.Module, loss_fn: Callable, cfg: TrainConfig):
    import lightning as L

    class TaskModule(L.LightningModule):
        """``loss_fn(model, batch) -> scalar``; validation reports ``val_loss`` on whole tracks."""

        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, batch_idx):
            loss = loss_fn(self.model, batch)
            self.log("train_loss", loss, prog_bar=False, batch_size=cfg.batch_size)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", loss_fn(self.model, batch), batch_size=1, on_epoch=True)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    return TaskModule()


def _best_state_callback():
    from lightning.pytorch.callbacks import Callback

    class KeepBest(Callback):
        """Keeps the weights of the best validation in memory and restores them at the end."""

        def __init__(self):
            self.best, self.state, self.step = float("inf"), None, 0

        def on_validation_end(self, trainer, module):
            value = float(trainer.callback_metrics.get("val_loss", float("inf")))
            if value < self.best:
                self.best, self.step = value, trainer.global_step
                self.state = copy.deepcopy(module.model.state_dict())

        def on_train_end(self, trainer, module):
            if self.state is not None:
                module.model.load_state_dict(self.state)

    return KeepBest()


def fit(model: nn.Module, loss_fn: Callable, train: Dataset, val: Dataset, cfg: TrainConfig, seed: int) -> dict:
    """Train ``model`` in place by ``loss_fn(model, batch)``; early stopping on the validation loss,
    the best weights restored. Returns steps run, the best step, its validation loss and what stopped
    the run: ``patience`` (converged), ``cap`` (the wall-clock cap) or ``max_steps``."""
    from datetime import timedelta

    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping

    torch.set_num_threads(cfg.threads)
    L.seed_everything(seed, workers=False, verbose=False)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    keep = _best_state_callback()
    early = EarlyStopping("val_loss", patience=cfg.patience, mode="min")
    trainer = L.Trainer(max_steps=cfg.max_steps, max_time=timedelta(minutes=cfg.max_minutes),
                        val_check_interval=cfg.val_every, check_val_every_n_epoch=None,
                        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        gradient_clip_val=1.0,
                        callbacks=[early, keep])
    module = _lightning_module(model, loss_fn, cfg)
    trainer.fit(module, DataLoader(train, batch_size=cfg.batch_size, shuffle=False),
                DataLoader(val, batch_size=1, shuffle=False))
    model.eval()
    if early.wait_count >= cfg.patience:
        stopped_by = "patience"
    elif trainer.global_step >= cfg.max_steps:
        stopped_by = "max_steps"
    else:
        stopped_by = "cap"
    return {"steps": int(trainer.global_step), "best_step": keep.step, "best_val_loss": keep.best,
            "stopped_by": stopped_by}
