"""Teacher targets for pretraining: what pretrained music models (and a CQT-like spectrogram) say
about each training clip, for stage-2 heads to predict from the transformer states.

Teachers run once per training file (:func:`teacher_targets`, cached on disk); extraction never
runs a teacher. Each returns ``(frames, channels)`` float32 at its own frame rate; the trainer
resamples them onto the token grid with :func:`booster.align.align`.

- ``basic-pitch``: Spotify's Basic Pitch (ICASSP 2022), the ONNX model inside the ``basic-pitch``
  wheel run by ``onnxruntime`` (install the wheel with ``--no-deps``: it asks for TensorFlow
  otherwise): note and onset posteriors of the 88 piano keys, 86 fps. Loss: binary cross-entropy.
- ``cqt``: a log-magnitude spectrogram with 24 bands per octave (madmom), z-scored per band:
  the MERT-style musical teacher. Loss: mean squared error.
- ``chroma``: madmom's deep chroma extractor (Korzeniowski & Widmer 2016), 12 pitch classes at
  10 fps. Loss: binary cross-entropy.
- ``key``: madmom's key CNN (Korzeniowski & Widmer 2018) on 8 s windows every 2 s: the local key's
  24 probabilities (12 major then 12 minor keys, from A), 0.5 fps. Loss: binary cross-entropy.
- ``tempo``: madmom's TCN beat tracker (Davies & Böck 2019) gives a beat activation; its
  autocorrelation over 6 s windows every second, on 24 log-spaced tempi of 40-240 BPM, weighed by a
  log-normal prior around 120 BPM (Ellis 2007) and scaled to a peak of 1: the local tempo's salience, 1 fps. Loss: binary cross-entropy.
- ``musicnn``: musicnn's tagger trained on the Million Song Dataset (Pons & Serra 2019; :mod:`booster.musicnn`,
  its TF checkpoint read from the ``musicnn`` wheel without TensorFlow): the probabilities of 50 last.fm tags
  (genres, instruments, moods, eras) of 3 s patches every 3 s, 1/3 fps: the timbre and genre teacher, which no
  other teacher here is. Loss: binary cross-entropy. ``musicnn-embedding``: the same network's 200 penultimate
  features (what its tag logits are a linear map of), unnormalised. Loss: mean squared error.
  ``musicnn-embedding-1s``: the same features of a 3 s patch every second (1 fps, 3x the cost).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEACHER_RATE = 22050  # every teacher reads mono audio at this rate


@dataclass(frozen=True)
class TeacherSpec:
    """What a teacher gives: ``channels`` per frame at ``fps``, scored by ``loss`` ("bce" for targets
    in [0, 1], "mse"); ``source`` names it in model cards."""

    name: str
    channels: int
    fps: float
    loss: str
    source: str


class TeacherUnavailable(RuntimeError):
    """A teacher's package is not installed; the message says what to install."""


def wheel_file(package: str, relative: str, pip: str) -> Path:
    """``relative`` inside the installed ``package`` (a teacher's model shipped in its wheel); ``pip`` is the
    install command that the :class:`TeacherUnavailable` message gives when the package or the file is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TeacherUnavailable(f"this teacher needs the {package} wheel: {pip}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.exists():
        raise TeacherUnavailable(f"{path}: the {package} wheel lacks it; reinstall: {pip}")
    return path


def _basic_pitch_model_path() -> Path:
    return wheel_file("basic_pitch", "saved_models/icassp_2022/nmp.onnx",
                      "pip install --no-deps basic-pitch==0.4.0 onnxruntime")


class BasicPitch:
    """Basic Pitch's note and onset posteriors ``(frames, 176)`` at 22050 / 256 fps, with the
    package's own windowing: 2 s windows overlapping by 30 frames, half the overlap cut at each side."""

    window, hop_samples, overlap_frames = 43844, 256, 30

    def __init__(self, threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise TeacherUnavailable("the basic-pitch teacher needs onnxruntime: pip install onnxruntime") from err
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(_basic_pitch_model_path()), opts,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        overlap = self.overlap_frames * self.hop_samples
        step = self.window - overlap
        padded = np.concatenate([np.zeros(overlap // 2, np.float32), audio.astype(np.float32)])
        starts = range(0, len(padded), step)
        windows = np.zeros((len(starts), self.window, 1), np.float32)
        for i, s in enumerate(starts):
            chunk = padded[s:s + self.window]
            windows[i, :len(chunk), 0] = chunk
        outs = []
        for k in range(0, len(windows), 16):
            note, onset = self.session.run(["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"],
                                           {"serving_default_input_2:0": windows[k:k + 16]})
            outs.append(np.concatenate([note, onset], axis=2))
        out = np.concatenate(outs)
        half = self.overlap_frames // 2
        out = out[:, half:-half].reshape(-1, out.shape[2])
        return out[: len(audio) // self.hop_samples].astype(np.float32)


def to_teacher_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono ``(samples,)`` audio at :data:`TEACHER_RATE`."""
    import soxr

    return audio if sample_rate == TEACHER_RATE else soxr.resample(audio, sample_rate, TEACHER_RATE)


def _cqt(audio: np.ndarray) -> np.ndarray:
    from booster.audio import log_spectrogram

    spec = log_spectrogram(audio, TEACHER_RATE, "semitone", fps=50.0)
    return ((spec - spec.mean(axis=0)) / (spec.std(axis=0) + 1e-3)).astype(np.float32)




KEY_WINDOW_S, KEY_HOP_S = 8.0, 2.0
TEMPO_WINDOW_S, TEMPO_HOP_S = 6.0, 1.0
TEMPO_BPM = np.geomspace(40.0, 240.0, 24)  # the tempo teacher's channels
TEMPO_PRIOR = np.exp(-0.5 * (np.log2(TEMPO_BPM / 120.0) / 1.0) ** 2)  # log-normal around 120 BPM, 1 octave


def _signal44(audio: np.ndarray):
    import onnxruntime
    import soxr
    from madmom.audio.signal import Signal

    onnxruntime.set_default_logger_severity(3)  # madmom's ONNX graphs warn about output shapes on every call
    # madmom's models were trained on 44.1 kHz input; madmom would resample through ffmpeg, soxr does it here
    return Signal(soxr.resample(audio.astype(np.float32), TEACHER_RATE, 44100), sample_rate=44100)


def _chroma(audio: np.ndarray) -> np.ndarray:
    from madmom.audio.chroma import DeepChromaProcessor

    return np.asarray(DeepChromaProcessor()(_signal44(audio)), dtype=np.float32)


def _windows(frames: int, fps: float, window_s: float, hop_s: float) -> list[tuple[int, int]]:
    """``[start, stop)`` of a window centred on each teacher frame ``k`` (time ``k * hop_s``), cut to the file;
    a file shorter than a window is one window."""
    half, n = int(round(window_s * fps / 2)), max(1, int(np.ceil(frames / (hop_s * fps))))
    out = []
    for k in range(n):
        centre = int(round(k * hop_s * fps))
        a, b = max(0, centre - half), min(frames, centre + half)
        out.append((a, b) if b - a >= half else (max(0, min(a, frames - 2 * half)), min(frames, max(b, 2 * half))))
    return out


def _key(audio: np.ndarray) -> np.ndarray:
    from madmom.features.key import CNNKeyRecognitionProcessor
    from madmom.ml.nn.activations import softmax

    proc = CNNKeyRecognitionProcessor()  # signal, frames, STFT, spectrogram, then the network and softmax
    spec = _signal44(audio)
    for step in proc.processors[:4]:  # the spectrogram once; the network then reads each window of it
        spec = step(spec)
    spec = np.asarray(spec)
    net, fps = proc.processors[4], 5.0  # the key CNN's spectrogram frame rate
    rows = [softmax(net(spec[a:b])[np.newaxis])[0] for a, b in _windows(len(spec), fps, KEY_WINDOW_S, KEY_HOP_S)]
    return np.asarray(rows, dtype=np.float32)


def _tempo(audio: np.ndarray) -> np.ndarray:
    from madmom.features.beats import TCNBeatProcessor

    act = np.asarray(TCNBeatProcessor()(_signal44(audio)), dtype=np.float64)  # beat activation, 100 fps
    fps = 100.0
    lags = 60.0 * fps / TEMPO_BPM  # a tempo's beat period in activation frames (fractional)
    rows = []
    for a, b in _windows(len(act), fps, TEMPO_WINDOW_S, TEMPO_HOP_S):
        x = act[a:b] - act[a:b].mean()
        n = len(x)
        spec = np.fft.rfft(x, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[:n] / n
        # every multiple of the beat period correlates too: weigh tempi by a perceptual prior, as Ellis (2007)
        sal = np.clip(np.interp(lags, np.arange(n), ac, right=0.0), 0.0, None) * TEMPO_PRIOR
        rows.append(sal / sal.max() if sal.max() > 1e-9 else sal)
    return np.asarray(rows, dtype=np.float32)


MUSICNN_HOP_S = 3.0  # one 3 s patch every 3 s: tags move slowly, and overlapping patches cost in proportion
# the embedding's dense variant: 3 s patches every second, 3x the cost. At one patch per 3 s a readout learnt the
# embedding about as well as each file's mean would carry (round 14): a denser target moves within a file
MUSICNN_DENSE_HOP_S = 1.0


def _musicnn(embedding: bool = False, hop_s: float = MUSICNN_HOP_S) -> Callable[[np.ndarray], np.ndarray]:
    from booster.musicnn import Musicnn, taggram

    model = Musicnn.from_wheel()
    return lambda audio: taggram(model, audio, TEACHER_RATE, hop_s=hop_s, embedding=embedding)


TEACHER_SPECS = {
    "basic-pitch": TeacherSpec("basic-pitch", 176, TEACHER_RATE / BasicPitch.hop_samples, "bce",
                               "Basic Pitch (Bittner et al., ICASSP 2022), nmp.onnx of the basic-pitch 0.4.0 "
                               "wheel via onnxruntime: note + onset posteriors of the 88 keys"),
    "cqt": TeacherSpec("cqt", 144, 50.0, "mse", "log spectrogram with 24 bands per octave, 30 Hz-10 kHz "
                       "(madmom), z-scored per band and file: MERT's CQT teacher"),
    "chroma": TeacherSpec("chroma", 12, 10.0, "bce", "madmom deep chroma (Korzeniowski & Widmer 2016)"),
    "key": TeacherSpec("key", 24, 1 / KEY_HOP_S, "bce", "madmom key CNN (Korzeniowski & Widmer 2018) on 8 s "
                       "windows every 2 s: local key probabilities, 12 major then 12 minor keys from A"),
    "tempo": TeacherSpec("tempo", len(TEMPO_BPM), 1 / TEMPO_HOP_S, "bce", "madmom TCN beat activation (Davies & "
                         "Böck 2019), autocorrelated over 6 s windows every second: salience of 24 tempi, "
                         "40-240 BPM, peak 1"),
    "basic-pitch-notes": TeacherSpec("basic-pitch-notes", 176, TEACHER_RATE / BasicPitch.hop_samples, "bce",
                                     "Basic Pitch's posteriors made hard with its own default thresholds (note "
                                     "> 0.3, onset > 0.5): 0/1 targets whose loss is all signal (the soft "
                                     "posteriors' cross-entropy is 94% their own entropy)"),
    "musicnn": TeacherSpec("musicnn", 50, 1 / MUSICNN_HOP_S, "bce",
                           "musicnn MSD_musicnn (Pons & Serra 2019), the checkpoint in the musicnn 0.1.0 wheel read "
                           "without TensorFlow: probabilities of the Million Song Dataset's 50 most common last.fm "
                           "tags, 3 s patches every 3 s"),
    "musicnn-embedding": TeacherSpec("musicnn-embedding", 200, 1 / MUSICNN_HOP_S, "mse",
                                     "musicnn MSD_musicnn's 200 penultimate features (the layer its tag logits "
                                     "read), 3 s patches every 3 s"),
    "musicnn-embedding-1s": TeacherSpec("musicnn-embedding-1s", 200, 1 / MUSICNN_DENSE_HOP_S, "mse",
                                        "musicnn MSD_musicnn's 200 penultimate features, 3 s patches every "
                                        "second"),
}
#: teachers computed from another teacher's cached targets: name -> (base teacher, transform)
DERIVED = {"basic-pitch-notes": ("basic-pitch", lambda y: np.concatenate(
    [(y[:, :88] > 0.3), (y[:, 88:] > 0.5)], axis=1).astype(np.float32))}
TEACHERS = tuple(TEACHER_SPECS)


def make_teacher(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The teacher's function: mono audio ``(samples,)`` at :data:`TEACHER_RATE` -> ``(frames, channels)``."""
    if name in DERIVED:
        base, transform = DERIVED[name]
        run = make_teacher(base)
        return lambda audio: transform(run(audio))
    if name == "basic-pitch":
        return BasicPitch()
    if name == "cqt":
        return _cqt
    if name == "chroma":
        return _chroma
    if name == "key":
        return _key
    if name == "tempo":
        return _tempo
    if name in ("musicnn", "musicnn-embedding"):
        return _musicnn(embedding=name == "musicnn-embedding")
    if name == "musicnn-embedding-1s":
        return _musicnn(embedding=True, hop_s=MUSICNN_DENSE_HOP_S)
    raise ValueError(f"unknown teacher {name!r}; choose from {', '.join(TEACHERS)}")


def head_specs(names) -> list:
    """The stage-2 head of each named teacher (:class:`hqvae.lightning.TeacherHeadSpec`)."""
    from hqvae.lightning import TeacherHeadSpec

    return [TeacherHeadSpec(n, TEACHER_SPECS[n].channels, TEACHER_SPECS[n].loss) for n in names]


def teacher_targets(files: list[Path], audios: list[np.ndarray], names: list[str], cache_dir: str | Path,
                    progress: Callable[[int], None] | None = None) -> list[dict[str, np.ndarray]]:
    """Per file, ``teacher name -> (frames, channels)`` at the teacher's fps; computed once per file
    and teacher, then read from ``cache_dir`` (keyed by the file's path, size and mtime).

    ``audios[i]``: the file's mono audio at :data:`TEACHER_RATE`.
    """
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    teachers: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    out = []
    bases = dict.fromkeys(DERIVED[n][0] if n in DERIVED else n for n in names)  # what actually runs
    for f, audio in zip(files, audios, strict=True):
        st = Path(f).stat()
        key = hashlib.sha256(json.dumps([str(Path(f).resolve()), st.st_size, st.st_mtime_ns]).encode()).hexdigest()[:24]
        targets = {}
        for name in bases:
            path = cache / f"{key}-{name}.npy"
            if path.exists():
                targets[name] = np.load(path)
                continue
            if name not in teachers:
                teachers[name] = make_teacher(name)
            y = teachers[name](audio)
            if y.ndim != 2 or y.shape[1] != TEACHER_SPECS[name].channels or not np.isfinite(y).all():
                raise ValueError(f"{f}: teacher {name} gave {y.shape} targets (or non-finite values)")
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, y)
            tmp.replace(path)
            targets[name] = y
        for name in names:
            if name in DERIVED:
                base, transform = DERIVED[name]
                targets[name] = transform(targets[base])
        out.append({n: targets[n] for n in names})
        if progress:
            progress(1)
    return out
