"""Music tagging: multi-label tags per clip, scored by macro ROC-AUC and PR-AUC.

- ``baseline``: a short-chunk CNN on log-mel (Won et al. 2020 style, CPU-sized).
- ``boosted`` / ``control``: the same CNN with booster features (trained / random-weights booster)
  added by :func:`booster.fusion.inject` at the output of its last conv block.
- ``probe`` / ``probe-control``: frozen booster features, mean+std pooled, into an MLP
  (the JukeMIR / MARBLE probing protocol).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from booster.fusion import inject
from downstream.data.records import TrackRecord
from downstream.metrics import tagging_scores
from downstream.tasks.base import SpectrogramTask, conv_blocks

FEATURE_DROPOUT = 0.5  # the `-drop` ablations: the share of booster feature values dropped in training


class TagCNN(nn.Module):
    """Log-mel ``(batch, frames, bins)`` -> tag logits ``(batch, tags)``.

    ``fuse`` is an identity at the last conv block's output ``(batch, channels, freq, time)``:
    the hook point for booster features.
    """

    def __init__(self, n_bins: int, n_tags: int, width: int = 16):
        super().__init__()
        self.blocks = conv_blocks(width)
        self.channels = 2 * width
        self.fuse = nn.Identity()
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(2 * self.channels, n_tags))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        h = self.fuse(self.blocks(spec.transpose(1, 2)[:, None]))  # (batch, channels, freq, time)
        h = h.mean(dim=2)
        return self.head(torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1))


class LateFusionTagger(nn.Module):
    """Ablation: the CNN's pooled embedding concatenated with the booster features' mean and std,
    into one linear head (late fusion, no hook)."""

    def __init__(self, n_bins: int, n_tags: int, dim: int):
        super().__init__()
        self.cnn = TagCNN(n_bins, n_tags)
        self.norm = nn.LayerNorm(2 * dim)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(2 * self.cnn.channels + 2 * dim, n_tags))

    def forward(self, spec: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        h = self.cnn.blocks(spec.transpose(1, 2)[:, None]).mean(dim=2)
        pooled = self.norm(torch.cat([feats.mean(dim=1), feats.std(dim=1)], dim=1))
        return self.head(torch.cat([h.mean(dim=-1), h.amax(dim=-1), pooled], dim=1))


class Probe(nn.Module):
    """Frozen features ``(batch, frames, dim)`` -> mean and std over time -> MLP -> tag logits."""

    def __init__(self, dim: int, n_tags: int, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(2 * dim), nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(0.3),
                                 nn.Linear(hidden, n_tags))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([feats.mean(dim=1), feats.std(dim=1)], dim=1))


class TaggingTask(SpectrogramTask):
    name = "tagging"
    spectrogram = "mel"
    features = ["top.layer4", "mid.layer4"]
    metrics = ("roc_auc", "pr_auc")
    variants = ("baseline", "boosted", "control", "capacity", "probe", "probe-control")
    # fusion ablations (run with --variants): zero-initialised projection; late fusion of pooled features;
    # dropout on the booster features (the fused tagger stops early on validation at 1.0: docs/results/tagging-v4)
    ablations = ("boosted-zero", "control-zero", "boosted-late", "control-late", "boosted-drop", "control-drop")

    def vocabulary(self, records: list[TrackRecord]) -> list[str]:
        """Tags present in 5%..95% of the training tracks (others are constant, so unlearnable)."""
        train = [r for r in records if r.split == "train"] or records
        counts: dict[str, int] = {}
        for r in train:
            for t in set(r.tags):
                counts[t] = counts.get(t, 0) + 1
        return sorted(t for t, c in counts.items() if 0.05 * len(train) <= c <= 0.95 * len(train) and c >= 2)

    def static_labels(self, records: list[TrackRecord], vocab: list[str]) -> dict[str, np.ndarray]:
        index = {t: i for i, t in enumerate(vocab)}
        out = {}
        for r in records:
            y = np.zeros(len(vocab), np.float32)
            for t in r.tags:
                if t in index:
                    y[index[t]] = 1.0
            out[r.track_id] = y
        return out

    def build(self, variant: str, meta: dict, arrays: dict):
        """``(model, loss_fn, predict)`` for a variant; ``predict(model, batch) -> logits``."""
        n_bins, n_out, boost_dim = self.n_bins(arrays), len(meta["vocabulary"]), meta["boost_dim"]
        if variant.startswith("probe"):
            model = Probe(boost_dim, n_out)

            def predict(m, batch):
                return m(batch["boost"])
        elif variant.endswith("-late"):
            model = LateFusionTagger(n_bins, n_out, boost_dim)

            def predict(m, batch):
                return m(batch["spec"], batch["boost"])
        else:
            model = TagCNN(n_bins, n_out)
            handle = None
            if variant != "baseline":
                handle = inject(model, "fuse", boost_dim, mode="add", channels=model.channels,
                                zero_init=variant.endswith("-zero"),
                                dropout=FEATURE_DROPOUT if variant.endswith("-drop") else 0.0)

            def predict(m, batch):
                if handle is not None:
                    handle.set(batch["boost"])
                return m(batch["spec"])

        def loss_fn(m, batch):
            return F.binary_cross_entropy_with_logits(predict(m, batch), batch["tags"])

        return model, loss_fn, predict

    @torch.inference_mode()
    def evaluate(self, model, predict, dataset, data=None) -> dict[str, float]:
        ys, scores = [], []
        for i in range(len(dataset)):
            item = dataset[i]
            batch = {k: v[None] for k, v in item.items() if torch.is_tensor(v)}
            scores.append(torch.sigmoid(predict(model, batch))[0].numpy())
            ys.append(item["tags"].numpy())
        return tagging_scores(np.stack(ys), np.stack(scores))
