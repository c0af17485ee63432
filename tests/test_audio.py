"""booster.audio: one loader for every format, rate and channel count; clear errors for bad files."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf
import torch

from booster.audio import AudioError, load_audio, probe, stream_audio, validate_wave, write_audio
from tests.conftest import sine


@pytest.mark.parametrize("fmt,subtype", [("wav", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS"),
                                         ("mp3", "MPEG_LAYER_III")])
def test_loads_every_format_and_resamples(tmp_path, fmt, subtype):
    path = tmp_path / f"x.{fmt}"
    sf.write(str(path), sine(2.0, 44100, 440.0, channels=2), 44100, subtype=subtype)
    audio, info = load_audio(path, sample_rate=22050, mono=True)
    assert info.sample_rate == 44100 and info.channels == 2
    assert audio.shape[0] == 1 and audio.dtype == np.float32
    # mp3 encoders pad the start; every other format keeps the exact length
    expected = 2.0 * 22050
    assert abs(audio.shape[1] - expected) <= (2000 if fmt == "mp3" else 1)
    # the resampled tone is still a 440 Hz tone
    spec = np.abs(np.fft.rfft(audio[0, 2000:2000 + 16384]))
    peak_hz = np.argmax(spec) * 22050 / 16384
    assert abs(peak_hz - 440) < 3


def test_multichannel_kept_or_downmixed(wav_factory):
    path = wav_factory(channels=6, sr=48000)
    audio, info = load_audio(path)
    assert audio.shape == (6, 48000) and info.channels == 6
    mono, _ = load_audio(path, mono=True)
    np.testing.assert_allclose(mono[0], audio.mean(axis=0), atol=1e-6)


def test_stream_matches_whole_load(wav_factory):
    path = wav_factory(seconds=5.0, sr=44100, channels=2)
    whole, _ = load_audio(path, sample_rate=22050, mono=True)
    blocks = list(stream_audio(path, sample_rate=22050, mono=True, block_seconds=0.7))
    assert len(blocks) > 5
    streamed = np.concatenate(blocks, axis=1)
    assert streamed.shape == whole.shape
    # away from the very ends, streaming and one-shot resampling agree to resampler precision
    np.testing.assert_allclose(streamed[:, 500:-500], whole[:, 500:-500], atol=2e-3)


def test_stream_without_resampling_is_exact(wav_factory):
    path = wav_factory(seconds=3.0, sr=16000, channels=1)
    whole, _ = load_audio(path)
    streamed = np.concatenate(list(stream_audio(path, block_seconds=0.25)), axis=1)
    np.testing.assert_array_equal(streamed, whole)


def _one_line_naming(err: AudioError, path) -> str:
    msg = str(err)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert "not found" in _one_line_naming(e.value, path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert "empty" in _one_line_naming(e.value, path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "garbage.flac"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert "corrupt" in _one_line_naming(e.value, path)


def test_truncated_file(wav_factory):
    path = wav_factory("cut.wav", seconds=2.0, sr=8000, channels=1, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header still promises 2 s
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert "truncated" in _one_line_naming(e.value, path)


def test_zero_samples(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(str(path), np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert "zero samples" in _one_line_naming(e.value, path)


def test_nan_samples(tmp_path):
    path = tmp_path / "nan.wav"
    x = sine(1.0, 16000)
    x[100:110] = np.nan
    sf.write(str(path), x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert "NaN" in _one_line_naming(e.value, path)
    with pytest.raises(AudioError):
        list(stream_audio(path, block_seconds=0.001))


def test_absurd_rate(wav_factory):
    path = wav_factory("rate.wav", seconds=0.5, sr=16000, channels=1, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", 50)  # the WAV header's sample-rate field
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as e:
        probe(path)
    assert "sample rate" in _one_line_naming(e.value, path)


def test_too_long_for_one_load(wav_factory):
    path = wav_factory("long.wav", seconds=3.0, sr=8000, channels=1)
    with pytest.raises(AudioError) as e:
        load_audio(path, max_seconds=1.0)
    assert "stream" in _one_line_naming(e.value, path)
    assert sum(b.shape[1] for b in stream_audio(path, block_seconds=0.5)) == 24000


def test_validate_wave_accepts_and_rejects():
    x = validate_wave(torch.zeros(2, 100), 16000)
    assert x.shape == (2, 100) and x.dtype == np.float32
    assert validate_wave(np.zeros(100, dtype=np.int16), 16000).shape == (1, 100)
    for bad, rate in [(np.zeros((1000, 2)), 16000), (np.zeros(0), 16000), (np.full(10, np.nan), 16000),
                      (np.zeros(10), 10), (np.zeros((2, 2, 2)), 16000)]:
        with pytest.raises(AudioError):
            validate_wave(bad, rate)


def test_write_flac_is_24_bit(tmp_path):
    path = tmp_path / "x.flac"
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 1000).astype(np.float32)
    write_audio(path, x, 22050)
    assert sf.info(str(path)).subtype == "PCM_24"
    back, _ = load_audio(path)
    assert np.abs(back[0] - x).max() < 2**-22
