"""The one audio loader: any file libsndfile reads, at any rate and channel count.

Everything that reads audio in this project goes through here, so every bad input
(missing, corrupt, truncated, empty, NaN, absurd rate, too long) gets one clear,
one-line error that names the file and says what to do.

Shapes: audio is ``(channels, samples)`` float32; mono output keeps a leading
channel axis of 1 unless ``mono=True`` asks for ``(samples,)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
#: Longest file ``load_audio`` decodes into memory at once; longer ones must be streamed.
DEFAULT_MAX_SECONDS = 4 * 3600.0
_CHUNK_MISMATCH = re.compile(r"^\s*(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


class AudioError(ValueError):
    """A file (or array) that cannot be used as audio. ``str()`` is one line naming the file and the fix."""

    def __init__(self, path: str | Path | None, problem: str, fix: str = ""):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}" + (f" ({fix})" if fix else ""))


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds before any conversion."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def is_audio_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def find_audio(root: str | Path, pattern: str | None = None) -> list[Path]:
    """``root`` itself if it is a file, else every audio file below it (recursive), sorted; with
    ``pattern`` (a glob relative to ``root``, e.g. ``"*/*/mix.flac"``) only the files it matches."""
    root = Path(root)
    if root.is_file():
        return [root]
    candidates = root.glob(pattern) if pattern else root.rglob("*")
    return sorted(p for p in candidates if p.is_file() and is_audio_file(p))


def probe(path: str | Path) -> AudioInfo:
    """Read a file's header and check it is usable, without decoding the samples."""
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found", "check the path")
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file", "pass a file, or use a command that takes folders")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)", "re-export or remove it")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AudioError(path, f"unreadable or corrupt audio ({reason})",
                         "re-encode it as wav/flac/ogg/mp3 or remove it") from None
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"absurd sample rate {info.samplerate} Hz",
                         f"expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz; the header is probably corrupt")
    if info.channels < 1:
        raise AudioError(path, "header declares no channels", "the file is corrupt; re-encode it")
    if info.frames == 0:
        raise AudioError(path, "holds zero samples", "re-export it or remove it from the input")
    # libsndfile quietly trims a cut-off WAV/AIFF to what is there but notes the size mismatch.
    # Streaming writers put 0 or 0xFFFFFFFF in the size field on purpose: those are not cut off.
    for m in _CHUNK_MISMATCH.finditer(info.extra_info):
        declared, actual = int(m.group(2)), int(m.group(3))
        if declared not in (0, 0xFFFFFFFF, 0x7FFFFFFF) and declared > actual + 8:
            raise AudioError(path, f"is truncated: the {m.group(1)} chunk declares {declared} bytes, "
                             f"the file holds {actual}", "re-copy or re-encode the file")
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames), info.format)


def _check_finite(block: np.ndarray, where: str | Path | None) -> None:
    if not np.isfinite(block).all():
        bad = int((~np.isfinite(block)).sum())
        raise AudioError(where, f"contains {bad} NaN/inf samples",
                         "the file is damaged; re-render or re-encode it")


def to_model_audio(audio: np.ndarray, source_rate: int, target_rate: int | None, mono: bool) -> np.ndarray:
    """Downmix and resample ``(channels, samples)`` audio. Returns ``(channels', samples')`` float32."""
    if mono and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
    if target_rate is not None and target_rate != source_rate:
        # soxr works on (samples, channels)
        audio = soxr.resample(np.ascontiguousarray(audio.T), source_rate, target_rate, quality="HQ").T
    return np.ascontiguousarray(audio, dtype=np.float32)


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    mono: bool = False,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
) -> tuple[np.ndarray, AudioInfo]:
    """Decode a whole file.

    Args:
        path: any format libsndfile reads.
        sample_rate: resample to this rate with soxr (None keeps the file's rate).
        mono: downmix to one channel (the mean of the channels).
        max_seconds: refuse longer files (use :func:`stream_audio` for those); None means no limit.

    Returns:
        ``(audio, info)`` with audio ``(channels, samples)`` float32 (channels = 1 if ``mono``)
        and ``info`` describing the original file.
    """
    info = probe(path)
    if max_seconds is not None and info.duration > max_seconds:
        raise AudioError(path, f"is {info.duration / 60:.1f} min long, over the {max_seconds / 60:.0f} min limit "
                         "for loading at once", "stream it with booster.audio.stream_audio or raise max_seconds")
    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"decoding failed ({str(err).splitlines()[0]})",
                         "the file is truncated or corrupt; re-encode it") from None
    if data.shape[0] == 0:
        raise AudioError(path, "decoded zero samples", "the file is truncated or corrupt; re-encode it")
    # A header that promises more than the body holds means a cut-off download or copy.
    if info.format not in ("MPEG",) and data.shape[0] < info.frames * 0.99:
        raise AudioError(path, f"is truncated: header says {info.frames} samples, body has {data.shape[0]}",
                         "re-copy or re-encode the file")
    audio = data.T
    _check_finite(audio, path)
    return to_model_audio(audio, info.sample_rate, sample_rate, mono), info


def stream_audio(
    path: str | Path,
    sample_rate: int | None = None,
    mono: bool = False,
    block_seconds: float = 30.0,
) -> Iterator[np.ndarray]:
    """Yield consecutive ``(channels, samples)`` float32 blocks of a file, resampled on the fly.

    Memory stays bounded by ``block_seconds`` whatever the file's length; concatenating
    the blocks equals :func:`load_audio` (up to soxr's streaming edge, which is exact
    for the sample count and within resampler precision for the values).
    """
    info = probe(path)
    block_frames = max(1, int(block_seconds * info.sample_rate))
    channels_out = 1 if mono else info.channels
    resampler = None
    if sample_rate is not None and sample_rate != info.sample_rate:
        resampler = soxr.ResampleStream(info.sample_rate, sample_rate, channels_out, dtype="float32", quality="HQ")
    read = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                block = f.read(block_frames, dtype="float32", always_2d=True)
                last = block.shape[0] < block_frames
                read += block.shape[0]
                if block.shape[0]:
                    _check_finite(block, path)
                if mono and block.shape[1] > 1:
                    block = block.mean(axis=1, keepdims=True)
                if resampler is not None:
                    block = resampler.resample_chunk(np.ascontiguousarray(block), last=last)
                if block.shape[0]:
                    yield np.ascontiguousarray(block.T, dtype=np.float32)
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"decoding failed after {read} samples ({str(err).splitlines()[0]})",
                         "the file is truncated or corrupt; re-encode it") from None
    if read == 0:
        raise AudioError(path, "decoded zero samples", "the file is truncated or corrupt; re-encode it")


def validate_wave(wave, sample_rate: int, name: str = "<array>") -> np.ndarray:
    """Check an in-memory waveform and return it as ``(channels, samples)`` float32.

    Accepts numpy arrays or torch tensors shaped ``(samples,)`` or ``(channels, samples)``.
    """
    if hasattr(wave, "detach"):
        wave = wave.detach().cpu().numpy()
    wave = np.asarray(wave)
    if not np.issubdtype(wave.dtype, np.floating) and not np.issubdtype(wave.dtype, np.integer):
        raise AudioError(name, f"dtype {wave.dtype} is not audio", "pass float or integer samples")
    if not isinstance(sample_rate, int | np.integer) or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(name, f"absurd sample rate {sample_rate!r}",
                         f"pass an integer rate in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    if wave.ndim == 1:
        wave = wave[None]
    if wave.ndim != 2:
        raise AudioError(name, f"shape {tuple(wave.shape)} is not (samples,) or (channels, samples)",
                         "reshape the array")
    if wave.shape[0] > 64 and wave.shape[1] <= 64:
        raise AudioError(name, f"shape {tuple(wave.shape)} looks like (samples, channels)",
                         "transpose it to (channels, samples)")
    if wave.shape[1] == 0:
        raise AudioError(name, "holds zero samples", "pass a non-empty waveform")
    if np.issubdtype(wave.dtype, np.integer):
        wave = wave.astype(np.float32) / float(np.iinfo(wave.dtype).max)
    wave = wave.astype(np.float32, copy=False)
    _check_finite(wave, name)
    return wave


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write ``(channels, samples)`` or ``(samples,)`` float audio; format from the extension."""
    audio = np.asarray(audio, dtype=np.float32)
    data = audio.T if audio.ndim == 2 else audio
    path = Path(path)
    if subtype is None and path.suffix.lower() == ".flac":
        subtype = "PCM_24"  # 24-bit keeps the stems-sum-to-mix error far below 1e-4
    sf.write(str(path), data, sample_rate, subtype=subtype)



def log_spectrogram(audio: np.ndarray, sample_rate: int, kind: str = "mel", fps: float = 50.0) -> np.ndarray:
    """``(frames, bins)`` float32 log-magnitude spectrogram of mono ``(samples,)`` audio at ``fps``.

    ``mel``: 64 mel bands 30 Hz - 10 kHz; ``semitone``: 24 bands per octave over the same range (every
    piano key has its own bands). Computed with madmom, as madmom's own models do.
    """
    from madmom.audio.filters import MelFilterbank
    from madmom.audio.signal import Signal
    from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram

    sig = Signal(np.ascontiguousarray(audio, dtype=np.float32), sample_rate=sample_rate)
    if kind == "mel":
        spec = LogarithmicFilteredSpectrogram(sig, frame_size=2048, fps=fps, filterbank=MelFilterbank,
                                              num_bands=64, fmin=30, fmax=10000)
    elif kind == "semitone":
        spec = LogarithmicFilteredSpectrogram(sig, frame_size=2048, fps=fps, num_bands=24, fmin=30, fmax=10000)
    else:
        raise ValueError(f"spectrogram kind must be 'mel' or 'semitone', got {kind!r}")
    return np.asarray(spec, dtype=np.float32)
