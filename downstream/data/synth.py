"""Synthesis backends: turn a :class:`Part` into a mono waveform.

``basic``: pure numpy (additive tones with per-family envelopes, noise drums); always available.
``fluidsynth``: pyfluidsynth over libfluidsynth3 with a General MIDI SoundFont (Debian's
FluidR3_GM when installed, else the TimGM6mb that ships inside ``pretty_midi``).

Both start every note's sound at its MIDI onset, so note labels and audio agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from downstream.data.compose import Part

SYNTHS = ("basic", "fluidsynth")


class SynthUnavailable(RuntimeError):
    pass


def midi_to_hz(pitch: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(pitch) - 69) / 12.0)


# Per GM family (program // 8): harmonic roll-off, attack s, decay time constant s (None = sustained),
# release s, vibrato depth (semitones), odd-harmonics-only flag.
_FAMILY_TIMBRE = {
    0: (1.6, 0.003, 0.9, 0.08, 0.0, False),   # piano
    1: (2.5, 0.002, 0.5, 0.10, 0.0, False),   # chromatic percussion
    2: (1.0, 0.010, None, 0.06, 0.0, True),   # organ
    3: (1.8, 0.003, 0.6, 0.05, 0.0, False),   # guitar
    4: (2.2, 0.005, 0.8, 0.05, 0.0, False),   # bass
    5: (1.2, 0.060, None, 0.15, 0.10, False),  # strings
    6: (1.3, 0.080, None, 0.20, 0.08, False),  # ensemble
    7: (1.0, 0.020, None, 0.08, 0.05, False),  # brass
    8: (1.4, 0.020, None, 0.08, 0.06, True),   # reed
    9: (2.6, 0.030, None, 0.10, 0.08, False),  # pipe
    10: (0.9, 0.005, None, 0.05, 0.05, False),  # synth lead
    11: (1.5, 0.120, None, 0.30, 0.03, False),  # synth pad
}


def _tone(pitch: int, velocity: int, dur: float, sr: int, program: int, rng: np.random.Generator) -> np.ndarray:
    rolloff, attack, decay, release, vibrato, odd_only = _FAMILY_TIMBRE.get(program // 8, _FAMILY_TIMBRE[0])
    n_sustain = max(1, int(round(dur * sr)))
    n = n_sustain + int(release * sr)
    t = np.arange(n, dtype=np.float64) / sr
    f0 = float(midi_to_hz(pitch))
    phase_mod = 0.0
    if vibrato:
        phase_mod = (f0 * (2 ** (vibrato / 12) - 1)) / 5.0 * np.sin(2 * np.pi * 5.0 * t)
    out = np.zeros(n)
    k_max = int(min(16, (sr / 2 - 100) // f0))
    for k in range(1, max(k_max, 1) + 1):
        if odd_only and k % 2 == 0:
            continue
        amp = 1.0 / k**rolloff
        out += amp * np.sin(2 * np.pi * k * f0 * t + k * phase_mod + rng.uniform(0, 2 * np.pi))
    env = np.minimum(1.0, t / attack)
    if decay is not None:
        # higher notes die faster, like strings and hammers
        env *= np.exp(-t / (decay * (440.0 / max(f0, 55.0)) ** 0.3))
    rel = np.ones(n)
    rel[n_sustain:] = np.linspace(1.0, 0.0, n - n_sustain, endpoint=False)
    return (velocity / 127.0) ** 1.5 * 0.3 * out * env * rel


def _drum(pitch: int, velocity: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    amp = (velocity / 127.0) ** 1.5
    if pitch in (35, 36):  # kick: falling sine
        n = int(0.35 * sr)
        t = np.arange(n) / sr
        freq = 45 + 90 * np.exp(-t / 0.03)
        return amp * 0.9 * np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.12)
    if pitch in (38, 40, 37):  # snare: noise + body
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        body = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.04)
        return amp * 0.5 * (0.7 * rng.standard_normal(n) * np.exp(-t / 0.07) + body)
    decay = {42: 0.03, 44: 0.03, 46: 0.25, 49: 0.9, 51: 0.5, 57: 0.9}.get(pitch)
    if decay is not None:  # cymbals: high-passed noise
        n = int(min(5 * decay, 2.0) * sr)
        t = np.arange(n) / sr
        noise = np.diff(rng.standard_normal(n + 1))
        return amp * 0.2 * noise * np.exp(-t / decay)
    n = int(0.4 * sr)  # toms and the rest: pitched thump
    t = np.arange(n) / sr
    return amp * 0.6 * np.sin(2 * np.pi * float(midi_to_hz(pitch - 24)) * t) * np.exp(-t / 0.15)


def _note_rng(seed: int, part: Part, index: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}/{part.name}/{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def render_basic(part: Part, seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Mono ``(samples,)`` float32 of exactly ``seconds * sr`` samples."""
    length = int(round(seconds * sr))
    out = np.zeros(length + 3 * sr)
    for i, note in enumerate(part.notes):
        rng = _note_rng(seed, part, i)
        if part.is_drum:
            wave = _drum(note.pitch, note.velocity, sr, rng)
        else:
            wave = _tone(note.pitch, note.velocity, note.offset - note.onset, sr, part.program, rng)
        start = int(round(note.onset * sr))
        out[start:start + len(wave)] += wave[: len(out) - start]
    return out[:length].astype(np.float32)


def soundfont_path(soundfont: str | Path | None = None) -> Path:
    """The General MIDI SoundFont fluidsynth renders with: ``None``, ``""`` or ``"timgm6mb"`` give
    TimGM6mb (shipped inside pretty_midi, so every machine renders the same); anything else is a
    path to an ``.sf2`` file (e.g. FluidR3_GM fetched by ``booster data fetch-soundfont``)."""
    if soundfont in (None, "", "timgm6mb"):
        import pretty_midi

        return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    path = Path(soundfont)
    if path.suffix.lower() != ".sf2" or not path.is_file():
        raise SynthUnavailable(f"--soundfont {soundfont}: not an .sf2 file; give a SoundFont path or 'timgm6mb'")
    return path


def fluidsynth_available() -> tuple[bool, str]:
    """Whether the fluidsynth backend can run here, and why not."""
    try:
        import fluidsynth  # noqa: F401  (loads libfluidsynth through ctypes)
    except (ImportError, OSError) as err:
        return False, (f"pyfluidsynth cannot load libfluidsynth ({err}); install it with "
                       "'apt-get install libfluidsynth3' or use --synth basic")
    if not soundfont_path().exists():
        return False, f"no SoundFont at {soundfont_path()}; reinstall pretty_midi or use --synth basic"
    return True, ""


def render_fluidsynth(part: Part, seconds: float, sr: int, seed: int = 0,
                      soundfont: str | Path | None = None) -> np.ndarray:
    """Mono ``(samples,)`` float32 rendered by FluidSynth; exactly ``seconds * sr`` samples."""
    ok, why = fluidsynth_available()
    if not ok:
        raise SynthUnavailable(why)
    from downstream.data.compose import score_to_midi

    length = int(round(seconds * sr))
    inst = score_to_midi([part], 120.0).instruments[0]
    if not inst.notes:
        return np.zeros(length, dtype=np.float32)
    # pretty_midi returns FluidSynth's int16 samples unscaled
    audio = inst.fluidsynth(fs=sr, synthesizer=str(soundfont_path(soundfont))) / 32768.0
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(audio))] = audio[:length]
    return out


def render_part(part: Part, seconds: float, sr: int, synth: str, seed: int = 0,
                soundfont: str | Path | None = None) -> np.ndarray:
    if synth == "basic":
        return render_basic(part, seconds, sr, seed)
    if synth == "fluidsynth":
        return render_fluidsynth(part, seconds, sr, seed, soundfont)
    raise ValueError(f"unknown synth {synth!r}; choose one of {', '.join(SYNTHS)}")
