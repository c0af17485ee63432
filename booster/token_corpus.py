"""Token corpora: a set of audio files as a frozen codec's tokens, with the files' cached teacher targets.

Stage 2 trains the priors on tokens, not on audio. A token corpus holds what it needs and nothing
else: about 3 MB per audio hour for the top and mid levels of the bundled codec (its codebooks have
256 entries: one byte a token), against about 90 MB of FLAC. That is small enough to carry to a GPU
machine that has no audio, no codec run and no teacher models (``booster pretrain --tokens``).

Layout of a corpus folder:
  ``manifest.json``  format, the codec's fingerprint and config, levels, hops, teachers, files
  ``tokens.npz``     ``{level}``: every file's tokens end to end; ``{level}__offsets``: where each
                     file starts (``files + 1`` entries); ``teacher__{name}`` and its offsets likewise.
                     Hard (0/1) teacher targets are bit-packed along channels, soft ones float16.
  ``parts/``         one file's arrays each, written as it is done: a rerun goes on from them.

Tokens come from :meth:`booster.Booster.extract` over the whole file (windows with context), so
a crop's tokens are those extraction gives, without the edge effects of encoding each crop alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from booster.pretrain import choose_clip

FORMAT = "mfm-booster-tokens/1"


def codec_fingerprint(model) -> str:
    """sha256 over the codec's tensors: equal for every checkpoint that shares the codec whatever its priors."""
    h = hashlib.sha256()
    for name, t in sorted(model.codec.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _is_hard(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def _part_key(path: Path, levels, teachers) -> str:
    st = path.stat()
    return hashlib.sha256(json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns, list(levels),
                                      list(teachers)]).encode()).hexdigest()[:24]


def _tokens_source(corpus: str | Path, booster, levels: tuple[str, ...]) -> Callable[[Path], Path | None]:
    """Where another corpus of the same codec keeps a file's tokens: ``file -> its part`` (None when it has
    none), so that a corpus with other teachers needs no codec pass for the files they share."""
    corpus = Path(corpus)
    try:
        manifest = json.loads((corpus / "manifest.json").read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{corpus}: not a finished token corpus ({err}); give --tokens-from a corpus that "
                         "'booster data tokenize' completed") from err
    if manifest.get("codec_fingerprint") != codec_fingerprint(booster.model):
        raise ValueError(f"{corpus}: its tokens were made by another codec (from {manifest.get('checkpoint')}); "
                         "reuse a corpus of this --model's codec")
    missing = [lv for lv in levels if lv not in manifest.get("levels", [])]
    if missing:
        raise ValueError(f"{corpus}: has levels {manifest.get('levels')}, not {missing}; drop --tokens-from")

    def part_of(f: Path) -> Path | None:
        part = corpus / "parts" / f"{_part_key(f, manifest['levels'], list(manifest['teachers']))}.npz"
        return part if part.exists() else None
    return part_of


def build_token_corpus(files: list[Path], out: str | Path, booster, levels: tuple[str, ...] = ("top", "mid"),
                       teachers: tuple[str, ...] = (), teacher_cache: str | Path | None = None,
                       progress: Callable[[Path], None] | None = None, tokens_from: str | Path | None = None) -> dict:
    """Encode ``files`` with ``booster``'s codec into the corpus folder ``out``; returns the manifest.

    Unreadable and silent files are recorded in the manifest's ``failures`` and skipped; files done
    before an interruption are not redone (``out/parts``). ``tokens_from``: a finished corpus of the same
    codec whose tokens are copied for the files it holds (the teachers still come from ``teacher_cache``).
    """
    from booster.audio import AudioError, load_audio
    from booster.teachers import TEACHER_SPECS, teacher_targets, to_teacher_rate

    out = Path(out)
    unknown = [lv for lv in levels if lv not in booster.levels]
    if unknown:
        raise ValueError(f"unknown levels {unknown}; the model has {list(booster.levels)}")
    bad = [t for t in teachers if t not in TEACHER_SPECS]
    if bad:
        raise ValueError(f"unknown teachers {bad}; choose from {', '.join(TEACHER_SPECS)}")
    reuse = _tokens_source(tokens_from, booster, levels) if tokens_from else (lambda f: None)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    sr = booster.sample_rate
    kept, seconds, failures = [], [], []
    for f in files:
        f = Path(f)
        part = parts / f"{_part_key(f, levels, teachers)}.npz"
        if not part.exists():
            try:
                audio, _ = load_audio(f, sr, mono=True)
            except AudioError as err:
                failures.append(str(err))
                continue
            if np.abs(audio).max() <= 1e-4:
                failures.append(f"{f}: silent; skipped")
                continue
            done = reuse(f)
            if done is not None:
                with np.load(done) as z:
                    arrays = {lv: z[lv] for lv in levels}
            else:
                tokens = booster.extract(audio[0], sr, features=[]).tokens
                arrays = {lv: tokens[lv].numpy().astype(np.uint8 if booster.model.config.codec.codebook_size <= 256
                                                        else np.uint16) for lv in levels}
            if teachers:
                cache = teacher_cache or out / "teacher-cache"
                for name, y in teacher_targets([f], [to_teacher_rate(audio[0], sr)], list(teachers), cache)[0].items():
                    arrays[f"teacher__{name}"] = y
            arrays["seconds"] = np.array(audio.shape[1] / sr)
            tmp = part.with_suffix(".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(part)
        with np.load(part) as z:
            seconds.append(float(z["seconds"]))
        kept.append((f, part))
        if progress:
            progress(f)
    if not kept:
        raise ValueError(f"{out}: none of the {len(files)} files could be encoded: {failures[:3]}")

    names = list(levels) + [f"teacher__{t}" for t in teachers]
    pieces: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for _, part in kept:
        with np.load(part) as z:
            for n in names:
                pieces[n].append(z[n])
    arrays, hard = {}, {}
    for n in names:
        offsets = np.cumsum([0] + [len(p) for p in pieces[n]]).astype(np.int64)
        data = np.concatenate(pieces[n])
        if n.startswith("teacher__"):
            hard[n] = _is_hard(data)
            data = np.packbits(data.astype(bool), axis=1) if hard[n] else data.astype(np.float16)
        arrays[n], arrays[f"{n}__offsets"] = data, offsets
    np.savez_compressed(out / "tokens.tmp.npz", **arrays)
    (out / "tokens.tmp.npz").replace(out / "tokens.npz")
    codec = booster.model.config.codec
    manifest = {
        "format": FORMAT, "codec_fingerprint": codec_fingerprint(booster.model), "checkpoint": str(booster.checkpoint),
        "codec": codec.to_dict(), "levels": list(levels), "hops": {lv: codec.hops[lv] for lv in levels},
        "teachers": {t: {"channels": TEACHER_SPECS[t].channels, "fps": TEACHER_SPECS[t].fps,
                         "hard": hard[f"teacher__{t}"]} for t in teachers},
        "files": [{"path": str(f), "seconds": round(s, 3)} for (f, _), s in zip(kept, seconds, strict=True)],
        "hours": round(sum(seconds) / 3600, 3), "failures": failures,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


@dataclass
class TokenCorpus:
    """A corpus in memory: per file, ``tokens[level]`` ``(frames,)`` int64 arrays and
    ``teachers[name]`` ``(frames, channels)`` (uint8 0/1 for hard targets, float16 else), at the
    teacher's own fps."""

    manifest: dict
    tokens: list[dict[str, np.ndarray]]
    teachers: list[dict[str, np.ndarray]]

    @classmethod
    def load(cls, path: str | Path) -> TokenCorpus:
        path = Path(path)
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a token corpus ({err}); make one with 'booster data tokenize'") from err
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}; rebuild it "
                             f"with 'booster data tokenize'")
        n = len(manifest["files"])
        tokens: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
        teachers: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
        with np.load(path / "tokens.npz", allow_pickle=False) as z:
            for lv in manifest["levels"]:
                data, off = z[lv], z[f"{lv}__offsets"]
                for i in range(n):
                    tokens[i][lv] = data[off[i]:off[i + 1]].astype(np.int64)
            for name, spec in manifest["teachers"].items():
                data, off = z[f"teacher__{name}"], z[f"teacher__{name}__offsets"]
                if spec["hard"]:
                    data = np.unpackbits(data, axis=1, count=spec["channels"])
                for i in range(n):
                    teachers[i][name] = data[off[i]:off[i + 1]]
        return cls(manifest, tokens, teachers)

    def check_codec(self, model) -> None:
        """Refuse a model whose codec is not the one that made these tokens."""
        if codec_fingerprint(model) != self.manifest["codec_fingerprint"]:
            raise ValueError(f"this token corpus was made by another codec (from {self.manifest['checkpoint']}); "
                             f"train with --init on a checkpoint that shares that codec, or re-tokenize")


class TokenCrops(Dataset):
    """Random crops of ``frames`` top-level frames from a :class:`TokenCorpus`; item ``i`` is fixed by
    ``(seed, start + i)`` like :class:`booster.pretrain.RandomCrops` (and ``pairs`` likewise).

    An item is ``{"tokens": {level: (frames * hop_top / hop_level,)}, "teachers": {name: (frames, channels)}}``:
    each teacher's frame nearest to every top-level frame's centre, as float32.
    """

    def __init__(self, corpus: TokenCorpus, frames: int, seed: int = 0, length: int = 10**7, start: int = 0,
                 pairs: bool = False):
        hops = corpus.manifest["hops"]
        self.levels = corpus.manifest["levels"]
        self.top = self.levels[0]
        self.ratios = {lv: hops[self.top] // hops[lv] for lv in self.levels}
        self.rate = corpus.manifest["codec"]["sample_rate"] / hops[self.top]
        self.fps = {n: s["fps"] for n, s in corpus.manifest["teachers"].items()}
        keep = [i for i, t in enumerate(corpus.tokens) if len(t[self.top]) > frames]
        if not keep:
            raise ValueError(f"no file of the token corpus is longer than the {frames}-frame crop")
        self.tokens = [corpus.tokens[i] for i in keep]
        self.teachers = [corpus.teachers[i] for i in keep]
        weights = np.array([len(t[self.top]) for t in self.tokens], dtype=np.float64)
        self.p = weights / weights.sum()
        self.frames, self.seed, self.length, self.start, self.pairs = frames, seed, length, start, pairs

    def __len__(self) -> int:
        return self.length

    def locate(self, i: int) -> tuple[int, int]:
        """Item ``i``'s file and first top-level frame."""
        k, rng = choose_clip(self.seed, self.start + i, self.p, self.pairs)
        return k, int(rng.integers(0, len(self.tokens[k][self.top]) - self.frames))

    def __getitem__(self, i: int) -> dict:
        k, a = self.locate(i)
        toks = self.tokens[k]
        tokens = {}
        for lv in self.levels:
            r = self.ratios[lv]
            seq = toks[lv][a * r:(a + self.frames) * r]
            if len(seq) < self.frames * r:  # a finer level may end a frame early
                seq = np.pad(seq, (0, self.frames * r - len(seq)), mode="edge")
            tokens[lv] = torch.from_numpy(seq)
        centres = (np.arange(a, a + self.frames) + 0.5) / self.rate
        teachers = {}
        for name, y in self.teachers[k].items():
            idx = np.minimum((centres * self.fps[name]).astype(np.int64), len(y) - 1)
            teachers[name] = torch.from_numpy(y[idx].astype(np.float32))
        return {"tokens": tokens, "teachers": teachers}
