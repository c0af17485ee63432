"""What every task shares, and the default for tasks that read one spectrogram of the mix."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from downstream.data.records import TrackRecord
from downstream.train import CropDataset, TrainConfig, WholeTracks

SAMPLE_RATE = 22050  # downstream inputs are computed from audio at this rate
#: prefix of the track ids of another dataset scored by ``booster evaluate`` beside a run's own tracks
EVAL_PREFIX = "eval:"

BoostFn = Callable[[list[tuple[str, str]], dict[str, int]], dict[str, dict[str, np.ndarray]]]


def conv_blocks(width: int, blocks: int = 3):
    """``blocks`` x (3x3 conv, batch norm, ReLU, 2x2 max-pool) from 1 channel to ``2 * width``: the
    short-chunk CNN front end of the tagging and mixing models. Input ``(batch, 1, freq, time)``."""
    from torch import nn

    chans = [1, width] + [2 * width] * (blocks - 1)
    return nn.Sequential(*[nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1),
                                         nn.BatchNorm2d(chans[i + 1]), nn.ReLU(), nn.MaxPool2d(2))
                           for i in range(blocks)])


def standardise(feats: dict[str, np.ndarray], fit_on: list[str]) -> dict[str, np.ndarray]:
    """Z-score every feature dimension with the mean and std of the ``fit_on`` items' frames (the
    labelled training subset: nothing is learnt from validation or test audio). Booster layers differ
    in scale by orders of magnitude; a fused projection trains poorly on raw values."""
    frames = np.concatenate([feats[t].reshape(-1, feats[t].shape[-1]) for t in fit_on], axis=0)
    mean, std = frames.mean(axis=0), frames.std(axis=0) + 1e-5
    return {t: ((x - mean) / std).astype(np.float32) for t, x in feats.items()}


def boost_key(variant: str) -> str:
    """Which features a variant fuses: the trained booster's, the random-weights control's, or the
    capacity control's (a fixed random projection of the task's own spectrogram)."""
    if variant.startswith("capacity"):
        return "boost_capacity"
    return "boost_random" if variant.startswith(("control", "probe-control")) else "boost"


class SpectrogramTask(ABC):
    """A task whose model reads a spectrogram of the mix (``spectrogram`` kind) and, boosted, the
    booster features of the mix on the same frame grid. Subclasses add labels, models and metrics."""

    name = ""
    spectrogram = "mel"
    features: list[str] = []
    metrics: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    ablations: tuple[str, ...] = ()  # extra variants, run only when asked for

    def vocabulary(self, records: list[TrackRecord]) -> list[str]:
        return []

    def static_labels(self, records: list[TrackRecord], vocab: list[str]) -> dict[str, np.ndarray]:
        return {}

    def timed_labels(self, records: list[TrackRecord], frames: dict[str, int]) -> dict[str, dict[str, np.ndarray]]:
        return {}

    def reference(self, records: list[TrackRecord], say) -> dict:
        """External reference scores on the test split (none by default)."""
        return {}

    def prepare_inputs(self, records: list[TrackRecord], boost: BoostFn, say,
                       vocabulary: list[str] | None = None) -> tuple[dict, dict, dict]:
        """``(arrays prefix -> id -> array, extra meta, failed id -> reason)``; ``vocabulary``: label the
        tracks with a trained model's vocabulary instead of the one these records give."""
        from booster.audio import AudioError, load_audio
        from downstream.inputs import spectrogram

        arrays: dict[str, dict[str, np.ndarray]] = {"spec": {}}
        failed: dict[str, str] = {}
        for r in records:
            try:
                audio, _ = load_audio(r.mix_path, SAMPLE_RATE, mono=True)
            except AudioError as err:
                failed[r.track_id] = str(err)
                continue
            arrays["spec"][r.track_id] = spectrogram(audio[0], SAMPLE_RATE, self.spectrogram)
        frames = {t: len(x) for t, x in arrays["spec"].items()}
        ok = [r for r in records if r.track_id in frames]
        for prefix, feats in boost([(r.track_id, str(r.mix_path)) for r in ok], frames).items():
            arrays[prefix] = feats
            failed.update({r.track_id: "booster features failed" for r in ok if r.track_id not in feats})
        ok = [r for r in ok if r.track_id not in failed]
        vocab = self.vocabulary(ok) if vocabulary is None else vocabulary
        static = self.static_labels(ok, vocab)
        if static:
            arrays["tags"] = static
        arrays.update(self.timed_labels(ok, frames))
        return arrays, {"vocabulary": vocab, "reference": self.reference(ok, say)}, failed

    def datasets(self, arrays, meta, train_ids, val_ids, test_ids, variant: str, cfg: TrainConfig, seed: int):
        timed = {"spec": arrays["spec"]}
        if variant != "baseline":
            timed["boost"] = standardise(arrays[boost_key(variant)], train_ids)
        for name in ("onsets", "frames"):
            if name in arrays:
                timed[name] = arrays[name]
        static = {"tags": arrays["tags"]} if "tags" in arrays else {}
        return (CropDataset(train_ids, timed, static, cfg.crop_frames, seed), WholeTracks(val_ids, timed, static),
                WholeTracks(test_ids, timed, static))

    def n_bins(self, arrays) -> int:
        return next(iter(arrays["spec"].values())).shape[1]

    @abstractmethod
    def build(self, variant: str, meta: dict, arrays: dict):
        """``(model, loss_fn, predict)`` for one variant."""

    @abstractmethod
    def evaluate(self, model, predict, dataset, data: Path) -> dict[str, float]:
        """Test metrics of a trained model on ``dataset``."""
