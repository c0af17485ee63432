"""Source separation with demucs' ``HTDemucs`` (a CPU-sized config of the real class, trained from scratch).

Sources are the rendered stems grouped by role: drums, bass, other (chords), lead; each target is
the stems of that role *as placed in the mix* (gain and pan applied), so the sources sum to the mix.
- ``baseline``: HTDemucs alone.
- ``boosted`` / ``control``: booster features of the mixture added by :func:`booster.fusion.inject` at
  both inputs of HTDemucs' cross-transformer (its bottleneck), from the trained / random-weights booster.
- ``capacity``: the same fusion fed a fixed random projection of the mixture's log-mel spectrogram, as
  wide as the booster features: the parameters and width of a boost, no information the model lacks.
- ``*-zero`` (ablations): the same, with the fusion's projection initialised at zero.
Metrics: cSDR per source (the MDX challenge's SDR that demucs reports), SI-SDR, and BSS-eval SDR
(``mir_eval.separation``) on a short excerpt of each track, for comparability with older papers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from booster.fusion import inject
from downstream.data.records import TrackRecord
from downstream.inputs import FPS
from downstream.tasks.base import SAMPLE_RATE, boost_key, standardise
from downstream.train import CropDataset, TrainConfig, WholeTracks

SOURCES = ("drums", "bass", "other", "lead")
ROLE_SOURCE = {"drums": "drums", "bass": "bass", "chords": "other", "lead": "lead"}
HOP = int(SAMPLE_RATE / FPS)  # samples per frame: audio is stored as (frames, ..., HOP) on the frame grid


def csdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-7) -> float:
    """The MDX / demucs ``new_sdr``: ``10 log10(sum ref^2 / sum (ref - est)^2)`` over all samples."""
    num = np.sum(np.square(reference, dtype=np.float64)) + eps
    den = np.sum(np.square(reference - estimate, dtype=np.float64)) + eps
    return float(10 * np.log10(num / den))


def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-8) -> float:
    r, e = reference.ravel().astype(np.float64), estimate.ravel().astype(np.float64)
    scale = (e @ r) / (r @ r + eps)
    target = scale * r
    return float(10 * np.log10((target @ target + eps) / (np.square(e - target).sum() + eps)))


def small_htdemucs(segment_s: float = 2.0):
    """A CPU-sized ``HTDemucs``: 4 sources, stereo, 22.05 kHz, depth 3, 8 base channels, one
    cross-transformer layer (its channel count is :func:`bottleneck_channels`)."""
    from demucs.htdemucs import HTDemucs

    return HTDemucs(list(SOURCES), audio_channels=2, samplerate=SAMPLE_RATE, segment=segment_s, channels=8,
                    depth=3, nfft=512, t_layers=1, t_heads=2, t_hidden_scale=1.0, bottom_channels=0)


def bottleneck_channels(channels: int = 8, depth: int = 3, growth: int = 2) -> list[int]:
    """Channels of both cross-transformer inputs (frequency and time branch): ``channels * growth ** (depth - 1)``."""
    return [channels * growth ** (depth - 1)] * 2


def placed_sources(record: TrackRecord) -> np.ndarray:
    """``(4, 2, samples)`` float32: each role's stems with the gain and pan the renderer gave them."""
    from booster.audio import load_audio
    from downstream.data.render import pan_gains

    out = None
    for sid, path in record.stems.items():
        audio, _ = load_audio(path, SAMPLE_RATE, mono=True)
        if out is None:
            out = np.zeros((len(SOURCES), 2, audio.shape[1]), np.float64)
        p = record.mixing[sid]
        left, right = pan_gains(p.pan)
        g = 10 ** (p.gain_db / 20)
        k = SOURCES.index(ROLE_SOURCE[record.extra["roles"][sid]])
        n = min(out.shape[-1], audio.shape[1])
        out[k, 0, :n] += g * left * audio[0, :n]
        out[k, 1, :n] += g * right * audio[0, :n]
    return out.astype(np.float32)


def to_frames(x: np.ndarray) -> np.ndarray:
    """``(..., samples)`` -> ``(frames, ..., HOP)`` (cut to whole frames)."""
    frames = x.shape[-1] // HOP
    y = x[..., :frames * HOP].reshape(*x.shape[:-1], frames, HOP)
    return np.ascontiguousarray(np.moveaxis(y, -2, 0))


def from_frames(x: torch.Tensor) -> torch.Tensor:
    """``(batch, frames, ..., HOP)`` -> ``(batch, ..., samples)``."""
    x = torch.movedim(x, 1, -2)
    return x.reshape(*x.shape[:-2], -1)


class SeparationTask:
    name = "separation"
    features = ["top.layer2", "mid.layer2"]
    metrics = ("sdr", "si_sdr", "bss_sdr")
    variants = ("baseline", "boosted", "control", "capacity")
    # fusion ablation (run with --variants): a zero-initialised projection, so that the fused model starts out
    # exactly as the baseline and takes the features in only as far as training finds them useful
    ablations = ("boosted-zero", "control-zero", "capacity-zero")
    segment_s = 2.0

    def prepare_inputs(self, records: list[TrackRecord], boost, say, vocabulary=None):
        from booster.audio import AudioError, load_audio
        from downstream.inputs import spectrogram

        arrays: dict[str, dict[str, np.ndarray]] = {"mix": {}, "sources": {}, "spec": {}}
        failed: dict[str, str] = {}
        for r in records:
            if not r.mixing or "roles" not in r.extra:
                failed[r.track_id] = "no stems with mixing parameters and roles (render it with booster data render)"
                continue
            try:
                mix, _ = load_audio(r.mix_path, SAMPLE_RATE, mono=False)
                sources = placed_sources(r)
            except AudioError as err:
                failed[r.track_id] = str(err)
                continue
            n = min(mix.shape[-1], sources.shape[-1])
            arrays["mix"][r.track_id] = to_frames(mix[:, :n])
            arrays["sources"][r.track_id] = to_frames(sources[..., :n])
            # the model's own input as a spectrogram, for the capacity control's random projection only
            t = len(arrays["mix"][r.track_id])
            spec = spectrogram(mix[:, :n].mean(axis=0), SAMPLE_RATE, "mel")[:t]
            arrays["spec"][r.track_id] = np.pad(spec, ((0, t - len(spec)), (0, 0)), mode="edge")
        frames = {t: len(x) for t, x in arrays["mix"].items()}
        ok = [r for r in records if r.track_id in frames]
        for prefix, feats in boost([(r.track_id, str(r.mix_path)) for r in ok], frames).items():
            arrays[prefix] = feats
        return arrays, {"sources": list(SOURCES)}, failed

    def datasets(self, arrays, meta, train_ids, val_ids, test_ids, variant: str, cfg: TrainConfig, seed: int):
        timed = {"mix": arrays["mix"], "sources": arrays["sources"]}
        if variant != "baseline":
            timed["boost"] = standardise(arrays[boost_key(variant)], train_ids)
        crop = int(self.segment_s * FPS)
        return (CropDataset(train_ids, timed, None, crop, seed), WholeTracks(val_ids, timed),
                WholeTracks(test_ids, timed))

    def build(self, variant: str, meta: dict, arrays: dict):
        model = small_htdemucs(self.segment_s)
        handle = None
        if variant != "baseline":
            handle = inject(model, "crosstransformer", meta["boost_dim"], mode="add",
                            channels=bottleneck_channels(), at="input", zero_init=variant.endswith("-zero"))
        crop = int(self.segment_s * FPS)

        def predict(m, batch):
            """Separated sources ``(batch, 4, 2, samples)``; a long input goes through in ``segment_s`` pieces."""
            mix = from_frames(batch["mix"])  # (batch, 2, samples)
            frames = batch["mix"].shape[1]
            outs = []
            for a in range(0, frames, crop):
                b = min(frames, a + crop)
                piece = mix[..., a * HOP:b * HOP]
                if handle is not None:
                    handle.set(batch["boost"][:, a:b])
                if b - a < crop:  # HTDemucs wants its training length: pad the last piece
                    piece = F.pad(piece, (0, (crop - (b - a)) * HOP))
                outs.append(m(piece)[..., :(b - a) * HOP])
            return torch.cat(outs, dim=-1)

        def loss_fn(m, batch):
            return F.l1_loss(predict(m, batch), from_frames(batch["sources"]))

        return model, loss_fn, predict

    @torch.inference_mode()
    def evaluate(self, model, predict, dataset, data: Path | None = None) -> dict[str, float]:
        """Mean over tracks of cSDR and SI-SDR per source (sources silent in a track are skipped, as
        museval gives them NaN), and BSS-eval SDR on the first 3 s where every source sounds."""
        import mir_eval

        per: dict[str, list[float]] = {f"sdr_{s}": [] for s in SOURCES}
        si, bss = [], []
        for i in range(len(dataset)):
            item = dataset[i]
            batch = {k: v[None] for k, v in item.items() if torch.is_tensor(v)}
            est = predict(model, batch)[0].numpy()
            ref = from_frames(batch["sources"])[0].numpy()
            for k, s in enumerate(SOURCES):
                if np.abs(ref[k]).max() < 1e-4:
                    continue
                per[f"sdr_{s}"].append(csdr(ref[k], est[k]))
                si.append(si_sdr(ref[k], est[k]))
            n = min(ref.shape[-1], 3 * SAMPLE_RATE)
            r3, e3 = ref[..., :n].mean(axis=1), est[..., :n].mean(axis=1)  # mono excerpts (4, n)
            if np.all(np.abs(r3).max(axis=1) > 1e-4):
                sdr, _, _, _ = mir_eval.separation.bss_eval_sources(r3, e3, compute_permutation=False)
                bss.append(float(np.mean(sdr)))
        out = {k: float(np.mean(v)) if v else float("nan") for k, v in per.items()}
        out["sdr"] = float(np.nanmean([out[f"sdr_{s}"] for s in SOURCES]))
        out["si_sdr"] = float(np.mean(si)) if si else float("nan")
        out["bss_sdr"] = float(np.mean(bss)) if bss else float("nan")
        return out
