"""Scores to render: procedural multi-instrument pieces and real scores from music21's corpus.

A :class:`Score` is plain data (parts of notes in seconds); synthesis and file layout live
elsewhere. Every random choice comes from the ``numpy.random.Generator`` passed in, so a
seed fixes the whole piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pretty_midi

from downstream.data.records import Note

PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}
PROGRESSIONS = {
    "major": [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 0], [5, 3, 0, 4], [0, 3, 0, 4], [1, 4, 0, 0]],
    "minor": [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 4], [0, 5, 3, 4], [0, 3, 6, 2]],
}
# General MIDI programs drawn per instrument role.
ROLE_PROGRAMS = {
    "bass": [32, 33, 34, 35, 36, 38, 39],
    "chords": [0, 1, 2, 4, 5, 11, 16, 17, 19, 24, 25, 26, 27, 48, 49, 50, 88, 89, 91, 95],
    "lead": [22, 40, 56, 60, 64, 65, 66, 68, 71, 73, 80, 81, 82, 84],
}
DRUM_PROGRAM = 0
KICK, SNARE, HIHAT_CLOSED, HIHAT_OPEN, CRASH = 36, 38, 42, 46, 49
# Roles music21 parts take by voice (soprano leads, bass is bass, inner voices accompany).
ENSEMBLES = {
    "strings": [40, 40, 41, 42],
    "organ": [19, 19, 19, 19],
    "woodwinds": [73, 68, 71, 70],
    "brass": [56, 56, 60, 57],
    "choir": [52, 52, 52, 52],
    "piano": [0, 0, 0, 0],
}


@dataclass
class Part:
    """One instrument line; becomes one stem."""

    name: str
    role: str  # drums | bass | chords | lead
    program: int
    is_drum: bool
    notes: list[Note] = field(default_factory=list)

    @property
    def inst_class(self) -> str:
        return "Drums" if self.is_drum else pretty_midi.program_to_instrument_class(self.program)

    @property
    def program_name(self) -> str:
        return "Drums" if self.is_drum else pretty_midi.program_to_instrument_name(self.program)


@dataclass
class Score:
    parts: list[Part]
    tempo: float
    tonic: int
    mode: str
    meter: tuple[int, int]
    source: str
    style: str
    title: str = ""

    @property
    def key_name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"


def _humanise(rng: np.random.Generator, t: float, spread: float = 0.008) -> float:
    return float(t + np.clip(rng.normal(0.0, spread), -0.02, 0.02))


def _add(part: Part, rng: np.random.Generator, onset: float, dur: float, pitch: int, velocity: float,
         seconds: float, humanise: bool = True) -> None:
    """Add a note, humanised, clipped to the piece's length; notes too short to hear are dropped."""
    start = max(0.0, _humanise(rng, onset) if humanise else onset)
    end = min(seconds, start + dur)
    if end - start < 0.04 or start >= seconds - 0.05:
        return
    vel = int(np.clip(round(velocity + rng.normal(0, 6)), 20, 127))
    part.notes.append(Note(start, end, int(pitch), vel, part.program, part.is_drum, part.name))


def procedural_score(rng: np.random.Generator, seconds: float) -> Score:
    """A multi-instrument piece: drums, bass, chords/pad and a lead line over a diatonic progression."""
    tempo = float(rng.uniform(70, 170))
    tonic = int(rng.integers(12))
    mode = str(rng.choice(["major", "minor"]))
    beats_per_bar = int(rng.choice([4, 4, 4, 3]))
    beat = 60.0 / tempo
    bar = beats_per_bar * beat
    scale = SCALES[mode]
    progression = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    n_bars = int(np.ceil(seconds / bar))
    # A slow swell or fade over the piece gives the dynamics some shape.
    dyn_start, dyn_end = rng.uniform(60, 110, size=2)

    def velocity_at(t: float) -> float:
        return float(dyn_start + (dyn_end - dyn_start) * t / max(seconds, 1e-6))

    def scale_pitch(degree: int, octave: int) -> int:
        return 12 * (octave + 1) + tonic + scale[degree % 7] + 12 * (degree // 7)

    roles = ["chords"]
    for role, p in (("drums", 0.85), ("bass", 0.9), ("lead", 0.9)):
        if rng.random() < p:
            roles.append(role)
    if len(roles) < 2:
        roles.append("lead")
    order = {"drums": 0, "bass": 1, "chords": 2, "lead": 3}
    parts = []
    for role in sorted(roles, key=order.get):
        if role == "drums":
            parts.append(Part(role, role, DRUM_PROGRAM, True))
        else:
            programs = ROLE_PROGRAMS[role]
            parts.append(Part(role, role, int(programs[rng.integers(len(programs))]), False))

    chord_style = str(rng.choice(["sustain", "beats", "arpeggio"]))
    bass_style = str(rng.choice(["roots", "eighths", "walk"]))
    melody_degree = int(rng.integers(0, 7))
    for b in range(n_bars):
        t0 = b * bar
        degree = progression[b % len(progression)]
        triad = [degree, degree + 2, degree + 4]
        for part in parts:
            vel = velocity_at(t0)
            if part.role == "drums":
                for k in range(beats_per_bar):
                    t = t0 + k * beat
                    if k == 0 or (beats_per_bar == 4 and k == 2):
                        _add(part, rng, t, 0.2, KICK, vel + 10, seconds)
                    elif beats_per_bar == 4 or k > 0:
                        _add(part, rng, t, 0.2, SNARE, vel, seconds)
                    for half in (0.0, 0.5):
                        hat = HIHAT_OPEN if (k == beats_per_bar - 1 and half) else HIHAT_CLOSED
                        _add(part, rng, t + half * beat, 0.1, hat, vel - 15, seconds)
                if b % 4 == 0:
                    _add(part, rng, t0, 0.5, CRASH, vel - 5, seconds)
            elif part.role == "bass":
                root = scale_pitch(degree, 2)
                if bass_style == "roots":
                    hits = [(0, 2)] + ([(2, 2)] if beats_per_bar == 4 else [(2, 1)])
                    for k, d in hits:
                        _add(part, rng, t0 + k * beat, d * beat * 0.9, root, vel, seconds)
                elif bass_style == "eighths":
                    for k in range(beats_per_bar * 2):
                        _add(part, rng, t0 + k * beat / 2, beat * 0.45, root + (12 if k % 4 == 3 else 0),
                             vel, seconds)
                else:
                    for k in range(beats_per_bar):
                        p = scale_pitch(triad[k % 3] if k < 3 else degree + 1, 2)
                        _add(part, rng, t0 + k * beat, beat * 0.9, p, vel, seconds)
            elif part.role == "chords":
                pitches = [scale_pitch(d, 4) for d in triad]
                if chord_style == "sustain":
                    for p in pitches:
                        _add(part, rng, t0, bar * 0.95, p, vel - 10, seconds, humanise=False)
                elif chord_style == "beats":
                    for k in range(beats_per_bar):
                        for p in pitches:
                            _add(part, rng, t0 + k * beat, beat * 0.8, p, vel - 5, seconds)
                else:
                    for k in range(beats_per_bar * 2):
                        _add(part, rng, t0 + k * beat / 2, beat * 0.5, pitches[k % 3] + (12 if k % 6 >= 3 else 0),
                             vel - 5, seconds)
            else:  # lead: a random walk over the scale, landing on chord tones on strong beats
                t = t0
                while t < t0 + bar - 1e-6:
                    dur_beats = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
                    dur_beats = min(dur_beats, (t0 + bar - t) / beat)
                    on_beat = abs(((t - t0) / beat) - round((t - t0) / beat)) < 1e-6
                    if on_beat and rng.random() < 0.5:
                        melody_degree = int(triad[int(rng.integers(3))] + 7 * round((melody_degree - degree) / 7))
                    else:
                        melody_degree += int(rng.choice([-2, -1, -1, 1, 1, 2]))
                    melody_degree = int(np.clip(melody_degree, -3, 10))
                    if rng.random() > 0.12:  # occasional rests
                        _add(part, rng, t, dur_beats * beat * 0.92, scale_pitch(melody_degree, 5), vel + 5, seconds)
                    t += dur_beats * beat
    style = "groove" if "drums" in roles else "ballad"
    return Score(parts, tempo, tonic, mode, (beats_per_bar, 4), "procedural", style)


def _music21_paths() -> list:
    from music21 import corpus

    paths = [p for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml", ".musicxml"))]
    return sorted(paths, key=str)


def music21_score(rng: np.random.Generator, seconds: float, ensemble: str = "") -> Score:
    """An excerpt of a real four-part score (Bach chorales) from the corpus that ships with music21.

    Each part becomes a stem played by one instrument of a randomly drawn ensemble (or of
    ``ensemble``, e.g. ``"piano"`` for piano transcription sets); the soprano is the lead, the
    bass line the bass, inner voices the chords role.
    """
    from music21 import converter

    paths = _music21_paths()
    if not paths:
        raise RuntimeError("music21's corpus has no Bach scores; reinstall music21")
    for _ in range(20):
        path = paths[int(rng.integers(len(paths)))]
        score = converter.parse(path)
        m21_parts = [p for p in score.parts if len(p.recurse().notes) > 0]
        if 2 <= len(m21_parts) <= 6:
            break
    tempo = float(rng.uniform(60, 110))
    quarter = 60.0 / tempo
    key = score.analyze("key")
    tonic, mode = key.tonic.pitchClass, ("minor" if key.mode == "minor" else "major")
    ts = score.recurse().getElementsByClass("TimeSignature")
    meter = (ts[0].numerator, ts[0].denominator) if ts else (4, 4)
    total_q = float(score.highestTime)
    span_q = seconds / quarter
    start_q = float(rng.uniform(0, max(0.0, total_q - span_q)))
    start_q = float(np.floor(start_q))  # start on a beat
    ensemble_name = str(rng.choice(sorted(ENSEMBLES)))  # drawn even when fixed: same music either way
    if ensemble:
        ensemble_name = ensemble
    programs = ENSEMBLES[ensemble_name]
    parts = []
    for i, m21_part in enumerate(m21_parts):
        role = "lead" if i == 0 else ("bass" if i == len(m21_parts) - 1 else "chords")
        name = (m21_part.partName or f"part{i}").strip().lower().replace(" ", "_")
        part = Part(name, role, programs[min(i, len(programs) - 1)], False)
        for el in m21_part.stripTies().flatten().notes:
            on_q = float(el.offset) - start_q
            if on_q < 0 or on_q * quarter >= seconds:
                continue
            dur = max(float(el.quarterLength), 0.25) * quarter * 0.95
            for pitch in el.pitches:
                _add(part, rng, on_q * quarter, dur, pitch.midi, 80, seconds)
        if part.notes:
            parts.append(part)
    title = str(path).rsplit("/", 1)[-1]
    return Score(parts, tempo, tonic, mode, meter, "music21", f"chorale-{ensemble_name}", title)


def score_to_midi(parts: list[Part], tempo: float) -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for part in parts:
        inst = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum, name=part.name)
        for n in part.notes:
            inst.notes.append(pretty_midi.Note(n.velocity, n.pitch, n.onset, n.offset))
        midi.instruments.append(inst)
    return midi
