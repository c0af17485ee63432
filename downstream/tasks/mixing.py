"""Automatic mixing: predict each dry stem's gain (dB) and pan, mix them with the differentiable
console (:mod:`downstream.console`), and compare with the target mix rendered with known parameters.

- ``baseline``: a stem encoder (small CNN on each stem's log-mel) with a track context (the mean of
  all stems' embeddings, as in set-based automix models) -> parameter head (in the spirit of
  automix-toolkit / FxNorm-automix).
- ``boosted`` / ``control``: the same plus booster features of each dry stem, added by
  :func:`booster.fusion.inject` at the encoder's last conv block (trained / random-weights booster).
- ``capacity``: the same fusion fed a fixed random projection of each stem's own log-mel, as wide as
  the booster features (extra parameters and width, no new information).
- ``*-rule`` (ablations): the same four, predicting each gain as a correction to the equal-loudness
  rule's (every stem at the mean level of the cell's training mixes), so training starts from the rule.
Trained on parameter error plus the multi-resolution STFT distance between console mix and target.
Metrics: gain and pan errors (of the gains in effect after the console's peak limit), MR-STFT
distance, and loudness difference (pyloudnorm, LUFS) between predicted and target mix.
Reference (no learning, scored on the same test tracks): the equal-loudness rule, every stem brought
to the training mixes' mean stem level and panned centre (:func:`equal_loudness_reference`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from booster.fusion import inject
from downstream.console import mix as console_mix
from downstream.data.records import TrackRecord
from downstream.tasks.base import SAMPLE_RATE, boost_key, conv_blocks, standardise
from downstream.tasks.separation import from_frames, to_frames
from downstream.train import CropDataset, TrainConfig, WholeTracks
from hqvae.losses import multi_resolution_stft

MAX_STEMS = 4
GAIN_SCALE = 10.0  # dB: the parameter loss weighs 10 dB of gain error like a full pan swing


class StemEncoder(nn.Module):
    """Log-mel of every stem ``(batch * stems, frames, bins)`` -> embedding ``(batch * stems, 2 * channels)``.
    ``fuse`` (identity) is the hook point for booster features ``(batch * stems, channels, freq, time)``."""

    def __init__(self, n_bins: int, width: int = 16):
        super().__init__()
        self.blocks = conv_blocks(width)
        self.channels = 2 * width
        self.fuse = nn.Identity()

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        h = self.fuse(self.blocks(spec.transpose(1, 2)[:, None])).mean(dim=2)  # (n, channels, time)
        return torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)


class MixPredictor(nn.Module):
    """Stems' log-mel ``(batch, frames, stems, bins)`` + mask ``(batch, stems)`` -> gain dB and pan, each
    ``(batch, stems)``. Each stem's parameters see its own embedding and the mean over the track's stems."""

    def __init__(self, n_bins: int, width: int = 16, hidden: int = 64):
        super().__init__()
        self.encoder = StemEncoder(n_bins, width)
        d = 2 * self.encoder.channels
        self.head = nn.Sequential(nn.Linear(2 * d, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, spec: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, s, f = spec.shape
        emb = self.encoder(spec.permute(0, 2, 1, 3).reshape(b * s, t, f)).reshape(b, s, -1)
        context = (emb * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        out = self.head(torch.cat([emb, context[:, None].expand_as(emb)], dim=-1))
        return GAIN_SCALE * out[..., 0], torch.tanh(out[..., 1])


def _stem_boost(batch: dict) -> torch.Tensor:
    """Booster features ``(batch, frames, stems, dim)`` -> ``(batch * stems, frames, dim)``."""
    x = batch["boost"]
    b, t, s, d = x.shape
    return x.permute(0, 2, 1, 3).reshape(b * s, t, d)


class MixingTask:
    name = "mixing"
    features = ["top.layer4", "mid.layer4"]
    metrics = ("gain_mae_db", "pan_mae", "mix_stft", "loudness_diff_lu")
    lower_is_better = True
    variants = ("baseline", "boosted", "control", "capacity")
    ablations = ("baseline-rule", "boosted-rule", "control-rule", "capacity-rule")
    crop_s = 2.0

    def prepare_inputs(self, records: list[TrackRecord], boost, say, vocabulary=None):
        from booster.audio import AudioError, load_audio
        from downstream.inputs import spectrogram

        arrays: dict[str, dict[str, np.ndarray]] = {k: {} for k in ("stems", "spec", "target", "gain", "pan", "mask")}
        failed: dict[str, str] = {}
        stem_items, stem_frames, stem_ids = [], {}, {}
        for r in records:
            sids = sorted(r.mixing)[:MAX_STEMS]
            if not sids:
                failed[r.track_id] = "no stems with mixing parameters (render it with booster data render)"
                continue
            try:
                target, _ = load_audio(r.mix_path, SAMPLE_RATE, mono=False)
                dry = [load_audio(r.stems[s], SAMPLE_RATE, mono=True)[0][0] for s in sids]
            except AudioError as err:
                failed[r.track_id] = str(err)
                continue
            n = min(target.shape[-1], *(len(d) for d in dry))
            stems = np.zeros((MAX_STEMS, n), np.float32)
            for k, d in enumerate(dry):
                stems[k] = d[:n]
            framed = to_frames(stems)  # (frames, stems, hop)
            t = len(framed)
            specs = np.zeros((t, MAX_STEMS, 64), np.float32)
            for k in range(len(sids)):
                specs[:, k] = spectrogram(stems[k], SAMPLE_RATE, "mel")[:t]
            arrays["stems"][r.track_id] = framed
            arrays["spec"][r.track_id] = specs
            arrays["target"][r.track_id] = to_frames(target[:, :n])
            pad = MAX_STEMS - len(sids)
            arrays["gain"][r.track_id] = np.array([r.mixing[s].gain_db for s in sids] + [0.0] * pad, np.float32)
            arrays["pan"][r.track_id] = np.array([r.mixing[s].pan for s in sids] + [0.0] * pad, np.float32)
            arrays["mask"][r.track_id] = np.array([1.0] * len(sids) + [0.0] * pad, np.float32)
            stem_ids[r.track_id] = [f"{r.track_id}/{s}" for s in sids]
            for s in sids:
                stem_items.append((f"{r.track_id}/{s}", str(r.stems[s])))
                stem_frames[f"{r.track_id}/{s}"] = t
        for prefix, feats in boost(stem_items, stem_frames).items():
            dim = next(iter(feats.values())).shape[1]
            per_track: dict[str, np.ndarray] = {}
            for t_id, framed in arrays["stems"].items():
                x = np.zeros((len(framed), MAX_STEMS, dim), np.float32)  # padding stems stay zero
                for k, item in enumerate(stem_ids[t_id]):
                    if item not in feats:
                        failed[t_id] = f"booster features of {item} failed"
                        continue
                    x[:, k] = feats[item][:len(framed)]
                per_track[t_id] = x
            arrays[prefix] = per_track
        for t_id in failed:
            for per_track in arrays.values():
                per_track.pop(t_id, None)
        say("the equal-loudness rule on the test split")
        reference = equal_loudness_reference(arrays, [r.track_id for r in records if r.split == "train"],
                                             [r.track_id for r in records if r.split == "test"])
        return arrays, {"reference": {"equal_loudness": reference} if reference else {}}, failed

    def datasets(self, arrays, meta, train_ids, val_ids, test_ids, variant: str, cfg: TrainConfig, seed: int):
        from downstream.inputs import FPS

        timed = {k: arrays[k] for k in ("stems", "spec", "target")}
        if variant.removesuffix("-rule") != "baseline":
            timed["boost"] = standardise(arrays[boost_key(variant)], train_ids)
        static = {k: arrays[k] for k in ("gain", "pan", "mask")}
        if variant.endswith("-rule"):
            static["rule_gain"] = equal_loudness_gains(arrays, train_ids)
        crop = int(self.crop_s * FPS)
        return (CropDataset(train_ids, timed, static, crop, seed), WholeTracks(val_ids, timed, static),
                WholeTracks(test_ids, timed, static))

    def build(self, variant: str, meta: dict, arrays: dict):
        model = MixPredictor(64)
        handle = None
        if variant.removesuffix("-rule") in ("boosted", "control", "capacity"):
            handle = inject(model, "encoder.fuse", meta["boost_dim"], mode="add", channels=model.encoder.channels)

        def predict(m, batch):
            if handle is not None:
                handle.set(_stem_boost(batch))
            gain, pan = m(batch["spec"], batch["mask"])
            if "rule_gain" in batch:  # the -rule ablations: the model predicts a correction to the rule
                gain = gain + batch["rule_gain"]
            return gain, pan

        def loss_fn(m, batch):
            gain, pan = predict(m, batch)
            mask = batch["mask"]
            param = ((gain - batch["gain"]).abs() / GAIN_SCALE + (pan - batch["pan"]).abs()) * mask
            mixed, _ = console_mix(from_frames(batch["stems"]), gain, pan, mask)
            target = from_frames(batch["target"])
            stft = multi_resolution_stft(mixed.flatten(0, 1), target.flatten(0, 1))
            return param.sum() / mask.sum() + stft

        return model, loss_fn, predict

    @torch.inference_mode()
    def evaluate(self, model, predict, dataset, data: Path | None = None) -> dict[str, float]:
        rows = []
        for i in range(len(dataset)):
            item = dataset[i]
            batch = {k: v[None] for k, v in item.items() if torch.is_tensor(v)}
            gain, pan = predict(model, batch)
            rows.append(mix_scores(batch, gain, pan))
        return {k: float(np.mean([r[k] for r in rows])) for k in self.metrics}


@torch.inference_mode()
def mix_scores(batch: dict, gain: torch.Tensor, pan: torch.Tensor) -> dict[str, float]:
    """One track's metrics for predicted ``gain`` (dB) and ``pan`` ``(1, stems)``; ``batch`` holds the
    track's framed ``stems`` ``(1, frames, stems, hop)``, ``target`` ``(1, frames, 2, hop)``, true ``gain``,
    ``pan`` and ``mask`` ``(1, stems)``. The gain error is of the gains in effect after the console's peak
    limit, as the target's gains are after the renderer's."""
    import pyloudnorm

    mask = batch["mask"]
    mixed, drop = console_mix(from_frames(batch["stems"]), gain, pan, mask)
    target = from_frames(batch["target"])
    real = mask[0] > 0
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    return {"gain_mae_db": float(((gain[0] + drop[0]) - batch["gain"][0])[real].abs().mean()),
            "pan_mae": float((pan[0] - batch["pan"][0])[real].abs().mean()),
            "mix_stft": float(multi_resolution_stft(mixed[0], target[0])),
            "loudness_diff_lu": abs(meter.integrated_loudness(mixed[0].T.double().numpy())
                                    - meter.integrated_loudness(target[0].T.double().numpy()))}


def stem_levels_db(framed_stems: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each real stem's RMS level (dB) of a track's framed dry stems ``(frames, stems, hop)``; ``(stems,)``,
    NaN for padding stems."""
    x = framed_stems.astype(np.float64)
    rms = np.sqrt(np.mean(np.square(x), axis=(0, 2)))
    return np.where(mask > 0, 20 * np.log10(rms + 1e-9), np.nan)


def _mix_levels(arrays: dict, track: str) -> np.ndarray:
    """Each stem's level (dB) in ``track``'s target mix ``(stems,)``: its gain plus its dry RMS level; NaN for
    padding stems."""
    return arrays["gain"][track] + stem_levels_db(arrays["stems"][track], arrays["mask"][track])


def _fit_level(levels: list[np.ndarray]) -> float:
    """The rule's level ``L``: the mean of the real stems' levels in ``levels``; NaN when there are none."""
    vals = np.concatenate(levels) if levels else np.array([])
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else float("nan")


def equal_loudness_gains(arrays: dict, fit_ids: list[str]) -> dict[str, np.ndarray]:
    """The equal-loudness rule's gains (dB) ``track -> (stems,)`` for every track of ``arrays``, with the
    level fitted on ``fit_ids``' target mixes (0 dB for padding stems)."""
    level = _fit_level([_mix_levels(arrays, t) for t in fit_ids])
    return {t: _rule_gain(level, arrays["stems"][t], arrays["mask"][t]) for t in arrays["gain"]}


def _rule_gain(level: float, framed_stems: np.ndarray, mask: np.ndarray) -> np.ndarray:
    # clipped to the renderer's gain range: a silent stem's level would ask for an unbounded gain
    gain = np.clip(level - np.nan_to_num(stem_levels_db(framed_stems, mask)), -30, 30)
    return np.where(mask > 0, gain, 0.0).astype(np.float32)


def equal_loudness_reference(arrays: dict, fit_ids: list[str], test_ids: list[str]) -> dict[str, float]:
    """What a user gets without learning anything: every dry stem brought to one level ``L`` (gain = ``L``
    minus the stem's RMS level) and panned centre. ``L`` is the mean level of the stems in the target
    mixes of ``fit_ids`` (the training split); with no training tracks (another dataset, scored by
    ``booster evaluate``), each test track's ``L`` is the mean over the other test tracks (leave one out).
    Scored like the models, on ``test_ids``; ``{}`` when there are none."""
    test_ids = [t for t in test_ids if t in arrays["gain"]]
    fit = [t for t in fit_ids if t in arrays["gain"]]
    levels = {t: _mix_levels(arrays, t) for t in (*fit, *test_ids)}
    fitted = _fit_level([levels[t] for t in fit])
    rows = []
    for t in test_ids:
        level = fitted if fit else _fit_level([levels[u] for u in test_ids if u != t])
        if not np.isfinite(level):
            continue
        gain = _rule_gain(level, arrays["stems"][t], arrays["mask"][t])
        batch = {k: torch.from_numpy(np.asarray(arrays[k][t]))[None] for k in ("stems", "target", "gain", "pan", "mask")}
        rows.append(mix_scores(batch, torch.from_numpy(gain)[None], torch.zeros_like(batch["pan"])))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}
