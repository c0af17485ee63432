"""Render a multi-stem corpus with perfect labels, in the Slakh2100 layout.

Per track ``TrackNNNNN/``: ``mix.flac`` (stereo), ``stems/S00.flac``... (mono, dry),
``MIDI/S00.mid``..., ``all_src.mid`` and ``metadata.yaml`` (Slakh's fields plus ours:
tags, mixing parameters, tempo, key). ``splits.json`` at the root lists train/validation/test.

The mix is exactly ``sum_s pan(gain_s * stem_s)`` with the recorded gain (dB) and
constant-power pan, so stems, mix and parameters agree to 24-bit precision.

Mixing parameters follow a simple engineer's rule plus noise (each role at a target
loudness relative to the others, bass and drums centred, accompaniment spread wide), so
they can be predicted from the stems, as a mixing model must learn to.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from booster.audio import write_audio
from downstream.data.compose import ENSEMBLES, Score, music21_score, procedural_score, score_to_midi
from downstream.data.records import MixParams
from downstream.data.synth import SYNTHS, SynthUnavailable, fluidsynth_available, render_part, soundfont_path

SOURCES = ("procedural", "music21")
# Target stem loudness (dB RMS) per role, and how far from centre each role may pan.
ROLE_LEVEL_DB = {"lead": -18.0, "chords": -22.0, "bass": -21.0, "drums": -20.0}
ROLE_PAN_SPREAD = {"lead": 0.2, "chords": 0.7, "bass": 0.05, "drums": 0.1}
MIX_PEAK = 0.9


@dataclass(frozen=True)
class RenderConfig:
    tracks: int = 4
    seconds: float = 8.0
    source: str = "procedural"
    synth: str = "basic"
    seed: int = 0
    sample_rate: int = 22050
    start_index: int = 1
    ensemble: str = ""  # music21 source only: one ensemble for every track (e.g. "piano")
    soundfont: str = ""  # fluidsynth only: "" / "timgm6mb" (default) or a path to an .sf2 file
    effects: bool = False  # production effects on the mix (pedalboard); stems stay dry

    def validate(self) -> None:
        if self.tracks < 1:
            raise ValueError(f"--tracks must be >= 1 (got {self.tracks})")
        if not 1.0 <= self.seconds <= 600.0:
            raise ValueError(f"--seconds must be in 1..600 (got {self.seconds})")
        if self.source not in SOURCES:
            raise ValueError(f"--source must be one of {', '.join(SOURCES)} (got {self.source!r})")
        if self.synth not in SYNTHS:
            raise ValueError(f"--synth must be one of {', '.join(SYNTHS)} (got {self.synth!r})")
        if self.ensemble and (self.source != "music21" or self.ensemble not in ENSEMBLES):
            raise ValueError(f"--ensemble needs --source music21 and one of {', '.join(sorted(ENSEMBLES))} "
                             f"(got {self.ensemble!r} with source {self.source!r})")
        if not 8000 <= self.sample_rate <= 96000:
            raise ValueError(f"--sample-rate must be in 8000..96000 (got {self.sample_rate})")
        if self.synth == "fluidsynth":
            ok, why = fluidsynth_available()
            if not ok:
                raise ValueError(why)
            try:
                soundfont_path(self.soundfont)
            except SynthUnavailable as err:
                raise ValueError(str(err)) from err
        elif self.soundfont:
            raise ValueError("--soundfont needs --synth fluidsynth")


def track_seed(seed: int, index: int) -> int:
    """Independent, stable seed per track (so a track does not change when --tracks grows)."""
    digest = hashlib.sha256(f"mfm-render/{seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: pan -1 = hard left, 0 = centre (-3 dB each side), +1 = hard right."""
    theta = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(theta)), float(np.sin(theta))


def apply_mix(stems: list[np.ndarray], params: list[MixParams]) -> np.ndarray:
    """Mix mono stems ``(samples,)`` into stereo ``(2, samples)`` with gain (dB) and pan."""
    mix = np.zeros((2, len(stems[0])), dtype=np.float64)
    for stem, p in zip(stems, params, strict=True):
        g = 10.0 ** (p.gain_db / 20.0)
        left, right = pan_gains(p.pan)
        mix[0] += g * left * stem
        mix[1] += g * right * stem
    return mix


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-9))


def choose_mix(rng: np.random.Generator, score: Score, stems: list[np.ndarray]) -> list[MixParams]:
    params = []
    for part, stem in zip(score.parts, stems, strict=True):
        level = rms_db(stem) if np.any(stem) else ROLE_LEVEL_DB[part.role]
        gain = ROLE_LEVEL_DB[part.role] - level + rng.normal(0.0, 1.5)
        pan = float(np.clip(rng.uniform(-1, 1) * ROLE_PAN_SPREAD[part.role], -1, 1))
        params.append(MixParams(float(np.clip(gain, -30.0, 30.0)), pan))
    # Keep the mix below clipping by pulling every gain down together.
    peak = float(np.abs(apply_mix(stems, params)).max())
    if peak > MIX_PEAK:
        drop = 20 * np.log10(peak / MIX_PEAK)
        params = [MixParams(p.gain_db - drop, p.pan) for p in params]
    return [MixParams(round(float(p.gain_db), 4), round(float(p.pan), 4)) for p in params]


def tempo_bucket(tempo: float) -> str:
    return "slow" if tempo < 95 else ("medium" if tempo < 130 else "fast")


def score_tags(score: Score) -> list[str]:
    classes = sorted({p.inst_class.lower() for p in score.parts if p.notes})
    return classes + [f"tempo:{tempo_bucket(score.tempo)}", f"mode:{score.mode}",
                      f"source:{score.source}", f"style:{score.style.split('-')[0]}"]


def render_track(cfg: RenderConfig, index: int, out_dir: Path) -> dict:
    """Render one track into ``out_dir/TrackNNNNN`` and return a summary row."""
    seed = track_seed(cfg.seed, index)
    rng = np.random.default_rng(seed)
    if cfg.source == "procedural":
        score = procedural_score(rng, cfg.seconds)
    else:
        score = music21_score(rng, cfg.seconds, cfg.ensemble)
    stems = []
    for part in score.parts:
        audio = render_part(part, cfg.seconds, cfg.sample_rate, cfg.synth, seed, cfg.soundfont).astype(np.float64)
        peak = np.abs(audio).max()
        if peak > 0.99:  # dry stems stay inside full scale as written files must
            audio *= 0.99 / peak
        # round-trip through 24-bit so the mix is the sum of exactly what the stem files hold
        stems.append(np.round(audio * 2**23) / 2**23)
    params = choose_mix(rng, score, stems)
    mix = apply_mix(stems, params)
    production = None
    if cfg.effects:  # its own generator: the same seed renders the same score with or without effects
        from downstream.data.production import apply_production

        mix, production = apply_production(mix, cfg.sample_rate, np.random.default_rng((seed, 1)), MIX_PEAK)

    track_id = f"Track{index:05d}"
    tdir = out_dir / track_id
    (tdir / "stems").mkdir(parents=True, exist_ok=True)
    (tdir / "MIDI").mkdir(exist_ok=True)
    stem_meta = {}
    for s, (part, stem, p) in enumerate(zip(score.parts, stems, params, strict=True)):
        sid = f"S{s:02d}"
        write_audio(tdir / "stems" / f"{sid}.flac", stem, cfg.sample_rate)
        score_to_midi([part], score.tempo).write(str(tdir / "MIDI" / f"{sid}.mid"))
        stem_meta[sid] = {
            "audio_rendered": True,
            "inst_class": part.inst_class,
            "is_drum": part.is_drum,
            "midi_program_name": part.program_name,
            "midi_saved": True,
            "plugin_name": "basic-additive" if cfg.synth == "basic" else f"fluidsynth:{soundfont_path(cfg.soundfont).name}",
            "program_num": part.program,
            "name": part.name,
            "role": part.role,
            "n_notes": len(part.notes),
            "gain_db": p.gain_db,
            "pan": p.pan,
        }
    write_audio(tdir / "mix.flac", mix, cfg.sample_rate)
    score_to_midi(score.parts, score.tempo).write(str(tdir / "all_src.mid"))
    tags = score_tags(score)
    meta = {
        "UUID": hashlib.sha256(f"{seed}".encode()).hexdigest()[:32],
        "audio_dir": "stems",
        "midi_dir": "MIDI",
        "normalized": False,
        "sample_rate": cfg.sample_rate,
        "seconds": cfg.seconds,
        "source": score.source,
        "style": score.style,
        "title": score.title,
        "synth": cfg.synth,
        "tempo": round(score.tempo, 3),
        "key": score.key_name,
        "mode": score.mode,
        "meter": f"{score.meter[0]}/{score.meter[1]}",
        "tags": tags,
        "mixing": {"pan_law": "constant-power", "gain_unit": "dB",
                   "stems": {sid: {"gain_db": m["gain_db"], "pan": m["pan"]} for sid, m in stem_meta.items()}},
        "stems": stem_meta,
    }
    if production is not None:
        meta["production"] = production  # the mix is no longer the sum of the (dry) stems
    (tdir / "metadata.yaml").write_text(yaml.safe_dump(meta, sort_keys=True))
    return {"track": track_id, "stems": len(stems), "notes": sum(len(p.notes) for p in score.parts),
            "tempo": score.tempo, "key": score.key_name, "tags": tags}


def make_splits(track_ids: list[str], seed: int) -> dict[str, list[str]]:
    """Deterministic 80/10/10 split by track; every split gets a track once there are three."""
    rng = np.random.default_rng(track_seed(seed, -1))
    order = [track_ids[i] for i in rng.permutation(len(track_ids))]
    n = len(order)
    n_test = max(1, round(0.1 * n)) if n >= 3 else 0
    n_valid = max(1, round(0.1 * n)) if n >= 3 else 0
    return {"train": sorted(order[n_test + n_valid:]), "validation": sorted(order[n_test:n_test + n_valid]),
            "test": sorted(order[:n_test])}


def render_corpus(out: str | Path, cfg: RenderConfig,
                  progress: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Render ``cfg.tracks`` tracks into ``out`` (created), then write ``splits.json``.

    Tracks already in ``out`` are overwritten; others are left alone. ``splits.json``
    covers every track folder present.
    """
    cfg.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(cfg.start_index, cfg.start_index + cfg.tracks):
        row = render_track(cfg, i, out)
        rows.append(row)
        if progress is not None:
            progress(i, row)
    ids = sorted(p.name for p in out.iterdir() if p.is_dir() and (p / "metadata.yaml").exists())
    (out / "splits.json").write_text(json.dumps(make_splits(ids, cfg.seed), indent=2) + "\n")
    return rows
