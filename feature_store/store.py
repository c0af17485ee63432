"""A Zarr v3 store of booster features for a whole dataset.

Layout (``STORE.zarr/``)::

    zarr.json                     root group; attributes: format, model fingerprint + config, feature specs
    parts/<part>/<feature>        append-only arrays, one part per writer session (float16 features,
                                  int16 tokens), so concurrent writers never touch the same chunk;
                                  chunks of ~4 s, compressed as the store's ``compression`` says
    manifest/<key>.json           one small file per track, written atomically (tmp + rename) only
                                  after the track's data is flushed: the manifest is the truth

Why: zarr-python 3 allows concurrent writers only on different chunks and ``append``
rewrites array metadata, so each part has exactly one owner; a writer buffers tracks and
appends in large blocks; and a killed run leaves data without a manifest entry, which no
reader ever sees. Resuming skips exactly the tracks whose manifest says ``ok``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import zarr

FORMAT = "mfm-booster-store/1"
FLOAT_DTYPE, TOKEN_DTYPE = "float16", "int16"


class StoreError(ValueError):
    """A store that cannot be opened or read as asked; the message names the store and the fix."""


@dataclass(frozen=True)
class FeatureSpec:
    """One stored feature: ``dim == 0`` means tokens, stored ``(frames,)`` int16. ``pool`` > 1: each
    stored frame is the mean of ``pool`` of the model's frames (``frame_rate`` is the stored rate)."""

    name: str
    frame_rate: float
    dim: int
    pool: int = 1

    @property
    def dtype(self) -> str:
        return TOKEN_DTYPE if self.dim == 0 else FLOAT_DTYPE

    @property
    def is_tokens(self) -> bool:
        return self.dim == 0


@dataclass(frozen=True)
class Compression:
    """How feature chunks are stored.

    ``keep_bits``: mantissa bits kept of float16's 10 (``numcodecs.BitRound``; 10 = lossless float16,
    7 = bfloat16's precision, relative error <= 2**-8); tokens are always exact. ``codec``: ``"zstd"``
    (Blosc, byte-shuffled, level ``level``) or ``"none"`` (raw chunks, the fastest reads).
    """

    codec: str = "zstd"
    level: int = 3
    keep_bits: int = 7

    def __post_init__(self):
        if self.codec not in ("zstd", "none"):
            raise ValueError(f"compression codec {self.codec!r}: use 'zstd' or 'none'")
        if not 1 <= self.keep_bits <= 10:
            raise ValueError(f"keep_bits {self.keep_bits}: float16 has 1..10 mantissa bits")

    def compressors(self):
        if self.codec == "none":
            return None
        from zarr.codecs import BloscCodec

        return BloscCodec(cname="zstd", clevel=self.level, shuffle="shuffle")

    def round(self, x: np.ndarray) -> np.ndarray:
        """``x`` float16 with ``keep_bits`` mantissa bits (round to nearest)."""
        if self.keep_bits >= 10:
            return x
        from numcodecs import BitRound

        return BitRound(self.keep_bits).encode(np.ascontiguousarray(x)).view(x.dtype).reshape(x.shape)


UNCOMPRESSED = Compression("none", 0, 10)  # what stores written before compression existed hold


@dataclass
class TrackEntry:
    """Where a track's data lives, or why it failed."""

    track_id: str
    status: str  # "ok" | "failed"
    source: str = ""
    source_hash: str = ""
    duration: float = 0.0
    part: str = ""
    offsets: dict[str, list[int]] = field(default_factory=dict)  # feature -> [start, frames]
    error: str = ""


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest_key(track_id: str) -> str:
    return hashlib.sha1(track_id.encode()).hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class FeatureStore:
    def __init__(self, path: Path, group: zarr.Group):
        self.path, self.group = path, group
        attrs = group.attrs.asdict()
        self.fingerprint: str = attrs["fingerprint"]
        self.model_config: dict = attrs.get("model_config", {})
        self.sample_rate: int = attrs.get("sample_rate", 0)
        self.specs = {s["name"]: FeatureSpec(s["name"], float(s["frame_rate"]), int(s["dim"]), int(s.get("pool", 1)))
                      for s in attrs["features"]}
        self.compression = Compression(**attrs["compression"]) if "compression" in attrs else UNCOMPRESSED
        #: the priors' compute precision when the features were extracted (stores before it was recorded: float32)
        self.precision: str = attrs.get("precision", "float32")
        self._entries: dict[str, TrackEntry] | None = None
        self._arrays: dict[str, zarr.Array | RawChunkReader] = {}  # opening reads metadata: do it once

    # --- creation and opening ------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, fingerprint: str, specs: list[FeatureSpec], model_config: dict | None = None,
               sample_rate: int = 0, compression: Compression | None = None,
               precision: str = "float32") -> FeatureStore:
        """A new, empty store; ``compression``: :class:`Compression` (default: zstd, bfloat16 precision);
        ``precision``: the priors' compute precision its features will be extracted at (recorded, so that a
        resumed store is not filled at another one)."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists; open it to resume, or remove it")
        group = zarr.open_group(str(path), mode="w-")
        group.attrs.update({"format": FORMAT, "fingerprint": fingerprint, "model_config": model_config or {},
                            "sample_rate": sample_rate, "features": [asdict(s) for s in specs],
                            "compression": asdict(compression or Compression()), "precision": precision})
        (path / "manifest").mkdir()
        return cls(path, group)

    @classmethod
    def open(cls, path: str | Path, fingerprint: str | None = None, allow_mismatch: bool = False,
             mode: str = "r") -> FeatureStore:
        """Open a store; with ``fingerprint`` given, refuse a store made by another model unless allowed."""
        path = Path(path)
        if not (path / "zarr.json").exists():
            raise StoreError(f"{path}: not a feature store (no zarr.json)")
        group = zarr.open_group(str(path), mode=mode)
        if group.attrs.get("format") != FORMAT:
            raise StoreError(f"{path}: format {group.attrs.get('format')!r} is not {FORMAT!r}")
        store = cls(path, group)
        if fingerprint is not None and fingerprint != store.fingerprint and not allow_mismatch:
            raise StoreError(f"{path}: made by model {store.fingerprint[:12]}, not {fingerprint[:12]}: its "
                             "features are stale; use a new store, or --allow-mismatch to mix them knowingly")
        return store

    # --- manifest --------------------------------------------------------------------------
    def entries(self, refresh: bool = False) -> dict[str, TrackEntry]:
        if self._entries is None or refresh:
            entries = {}
            for f in sorted((self.path / "manifest").glob("*.json")):
                e = TrackEntry(**json.loads(f.read_text()))
                entries[e.track_id] = e
            self._entries = entries
        return self._entries

    def committed(self, track_ids: list[str]) -> dict[str, TrackEntry]:
        """The complete entries among ``track_ids``, read from their own manifest files only (a worker's
        shard asks about its few tracks without reading a whole dataset's manifest)."""
        out = {}
        for t in track_ids:
            f = self.path / "manifest" / f"{_manifest_key(t)}.json"
            if f.exists():
                e = TrackEntry(**json.loads(f.read_text()))
                if e.status == "ok":
                    out[t] = e
        return out

    def tracks(self) -> list[str]:
        """Ids of complete tracks, sorted."""
        return sorted(t for t, e in self.entries().items() if e.status == "ok")

    def failures(self) -> dict[str, str]:
        return {t: e.error for t, e in sorted(self.entries().items()) if e.status == "failed"}

    def feature_names(self) -> list[str]:
        return list(self.specs)

    def commit(self, entry: TrackEntry) -> None:
        _atomic_write(self.path / "manifest" / f"{_manifest_key(entry.track_id)}.json",
                      json.dumps(asdict(entry), sort_keys=True))
        if self._entries is not None:
            self._entries[entry.track_id] = entry

    # --- reading -------------------------------------------------------------------------
    def _entry(self, track_id: str) -> TrackEntry:
        e = self.entries().get(track_id)
        if e is None or e.status != "ok":
            reason = f" (failed: {e.error})" if e is not None else ""
            raise StoreError(f"{self.path}: no complete track {track_id!r}{reason}")
        return e

    def _spec(self, name: str) -> FeatureSpec:
        if name not in self.specs:
            raise StoreError(f"{self.path}: no feature {name!r}; it holds {', '.join(self.specs)}")
        return self.specs[name]

    def frames(self, track_id: str, name: str) -> int:
        self._spec(name)
        return self._entry(track_id).offsets[name][1]

    def read(self, track_id: str, name: str, booster=None) -> np.ndarray:
        """A whole track's feature: ``(frames, dim)`` float32, or ``(frames,)`` int64 tokens. A feature the
        store lacks is computed from its stored tokens when ``booster`` (the store's model) is given
        (:meth:`compute`)."""
        if name not in self.specs and booster is not None:
            return self.compute(track_id, [name], booster)[name]
        return self._slice(track_id, name, 0, self.frames(track_id, name))

    def compute(self, track_id: str, names: list[str], booster) -> dict[str, np.ndarray]:
        """Features ``names`` of a track computed from its stored tokens by ``booster``'s priors (no audio,
        no codec): ``name -> (frames, dim)`` float32 at the model's own frame rate
        (``booster.frame_rate(level)``). Costs the priors' time, about a third of extraction's for
        top+mid features (docs/feature-store.md); the booster must be the model that made the store."""
        if booster.fingerprint != self.fingerprint:
            raise StoreError(f"{self.path}: made by model {self.fingerprint[:12]}; computing features with "
                             f"{str(booster.fingerprint)[:12]} would mix models: load the store's checkpoint")
        levels = [lv for lv in booster.levels if f"{lv}.tokens" in self.specs]
        tokens = {lv: self.read(track_id, f"{lv}.tokens") for lv in levels}
        try:
            out = booster.features_from_tokens(tokens, names)
        except ValueError as err:
            raise StoreError(f"{self.path}: cannot compute {names} from the stored tokens ({err})") from None
        return {n: out.features[n].numpy() for n in names}

    def window(self, track_id: str, name: str, start_s: float, dur_s: float) -> np.ndarray:
        """Frames whose start lies in ``[start_s, start_s + dur_s)``: ``round(dur_s * rate)`` frames from
        ``floor(start_s * rate)``, cut at the track's end. ``(frames, dim)`` float32 or ``(frames,)`` int64."""
        spec = self._spec(name)
        if start_s < 0 or dur_s <= 0:
            raise StoreError(f"window needs start_s >= 0 and dur_s > 0 (got {start_s}, {dur_s})")
        first = int(np.floor(start_s * spec.frame_rate + 1e-9))
        n = max(1, int(round(dur_s * spec.frame_rate)))
        total = self.frames(track_id, name)
        if first >= total:
            raise StoreError(f"{track_id}: window starts at {start_s:.3f} s, after the track's end "
                             f"({total / spec.frame_rate:.3f} s)")
        return self._slice(track_id, name, first, min(total, first + n))

    def _slice(self, track_id: str, name: str, a: int, b: int) -> np.ndarray:
        e = self._entry(track_id)
        start = e.offsets[name][0]
        key = f"parts/{e.part}/{name}"
        if key not in self._arrays:
            array = self.group[key]
            self._arrays[key] = RawChunkReader.for_array(array, self.path / key) or array
        data = self._arrays[key][start + a:start + b]
        return data.astype(np.int64) if self.specs[name].is_tokens else data.astype(np.float32)

    def writer(self, name: str | None = None, flush_frames: int = 1 << 16) -> PartWriter:
        return PartWriter(self, name or f"{os.getpid()}-{uuid.uuid4().hex[:8]}", flush_frames)

    def summary(self) -> dict:
        entries = self.entries()
        ok = [e for e in entries.values() if e.status == "ok"]
        return {"path": str(self.path), "fingerprint": self.fingerprint,
                "features": [asdict(s) for s in self.specs.values()], "compression": asdict(self.compression),
                "precision": self.precision, "tracks": len(ok), "hours": sum(e.duration for e in ok) / 3600,
                "failures": self.failures()}


class RawChunkReader:
    """Row slices of a Zarr v3 array on local disk, read straight from its chunk files: raw chunks
    (bytes codec only) or Blosc-compressed ones (bytes + blosc), C order, default ``c/i/j`` keys.

    Why: zarr-python's indexing costs about half a millisecond per call in its async machinery,
    twenty times a memory-mapped ``.npy`` for a 1 s window. A raw chunk is memory-mapped, so a row
    range is one contiguous byte range; a compressed chunk is decompressed whole (a few hundred kB)
    and kept in a small LRU, so neighbouring windows cost a slice. Anything else falls back to zarr
    (``for_array`` is None). A chunk file that zarr never wrote (all fill value) reads as the fill value.
    """

    max_open = 64  # raw chunks kept mapped (each holds a file descriptor), or compressed chunks kept decoded

    def __init__(self, root: Path, row_shape: tuple[int, ...], chunk_rows: int, dtype: np.dtype, fill_value,
                 compressed: bool = False):
        self.root, self.row_shape, self.chunk_rows = root, row_shape, chunk_rows
        self.dtype, self.fill_value, self.compressed = dtype, fill_value, compressed
        self.base = f"{root}/c/"
        self._open: OrderedDict[int, tuple[tuple[int, int], np.ndarray]] = OrderedDict()
        self.row_items = int(np.prod(self.row_shape)) if self.row_shape else 1
        self.row_bytes = self.row_items * dtype.itemsize
        self.suffix = "".join("/0" for _ in self.row_shape)  # chunks span every trailing dim

    @classmethod
    def for_array(cls, array: zarr.Array, root: Path) -> RawChunkReader | None:
        md = array.metadata
        try:
            from zarr.codecs import BloscCodec, BytesCodec
            codecs = list(md.codecs)
            compressed = len(codecs) == 2 and isinstance(codecs[1], BloscCodec)
            plain = ((len(codecs) == 1 or compressed) and isinstance(codecs[0], BytesCodec)
                     and getattr(codecs[0].endian, "value", None) in ("little", None)
                     and md.chunk_key_encoding.to_dict() == {"name": "default", "configuration": {"separator": "/"}}
                     and tuple(array.chunks[1:]) == tuple(array.shape[1:]) and root.is_dir())
        except (AttributeError, ImportError):  # another zarr layout or version: use zarr itself
            return None
        if not plain:
            return None
        dtype = np.dtype(str(array.dtype)).newbyteorder("<")
        return cls(root, tuple(array.shape[1:]), int(array.chunks[0]), dtype, md.fill_value, compressed)

    def _chunk(self, index: int) -> np.ndarray | None:
        """Chunk ``index`` as ``(chunk_rows, *row_shape)`` (None if zarr never wrote it).

        The last ``max_open`` chunks stay open, so repeated reads cost a slice. zarr rewrites a chunk
        by writing a new file and renaming it over the old one, and a map keeps seeing the old
        file: so each access checks the file's inode and reads the new file when it changed
        (a writer appending to the part while we read).
        """
        path = f"{self.base}{index}{self.suffix}"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        cached = self._open.get(index)
        if cached is not None and cached[0] == (st.st_ino, st.st_mtime_ns):
            self._open.move_to_end(index)
            return cached[1]
        shape = (self.chunk_rows, *self.row_shape)
        if self.compressed:
            from numcodecs import blosc

            with open(path, "rb") as f:
                raw = blosc.decompress(f.read())
            if len(raw) != self.chunk_rows * self.row_bytes:
                raise StoreError(f"{path}: chunk decompresses to {len(raw)} bytes, expected "
                                 f"{self.chunk_rows * self.row_bytes}")
            chunk = np.frombuffer(raw, dtype=self.dtype).reshape(shape)
        else:
            if st.st_size != self.chunk_rows * self.row_bytes:
                raise StoreError(f"{path}: chunk file has {st.st_size} bytes, expected "
                                 f"{self.chunk_rows * self.row_bytes}")
            chunk = np.memmap(path, dtype=self.dtype, mode="r", shape=shape)
        self._open[index] = ((st.st_ino, st.st_mtime_ns), chunk)
        if len(self._open) > self.max_open:
            self._open.popitem(last=False)
        return chunk

    def _rows(self, index: int, first: int, last: int) -> np.ndarray:
        chunk = self._chunk(index)
        if chunk is None:
            return np.full((last - first, *self.row_shape), self.fill_value, dtype=self.dtype)
        return chunk[first:last]

    def __getitem__(self, rows: slice) -> np.ndarray:
        # no clipping to the shape read at open time: a writer may have appended since, and the
        # offsets come from committed manifest entries, so they lie within the written data
        a, b = rows.start or 0, rows.stop
        if b <= a:
            return np.empty((0, *self.row_shape), dtype=self.dtype)
        pieces = []
        for index in range(a // self.chunk_rows, (b - 1) // self.chunk_rows + 1):
            base = index * self.chunk_rows
            pieces.append(self._rows(index, max(a, base) - base, min(b, base + self.chunk_rows) - base))
        return np.asarray(pieces[0]) if len(pieces) == 1 else np.concatenate(pieces)


class PartWriter:
    """Appends tracks to one part that only it owns; buffers tracks and appends in large blocks.

    A track becomes visible only when :meth:`flush` has written its data and then its manifest
    entry; ``close`` (or leaving the ``with`` block) flushes. Killed before that, the track is
    simply absent and will be redone on resume.
    """

    def __init__(self, store: FeatureStore, part: str, flush_frames: int):
        self.store, self.part, self.flush_frames = store, part, flush_frames
        self.arrays = {}
        for spec in store.specs.values():
            shape = (0,) if spec.is_tokens else (0, spec.dim)
            chunk_frames = max(256, int(spec.frame_rate * 4))  # ~4 s per chunk: small reads stay cheap
            chunks = (chunk_frames,) if spec.is_tokens else (chunk_frames, spec.dim)
            self.arrays[spec.name] = store.group.create_array(
                f"parts/{part}/{spec.name}", shape=shape, chunks=chunks, dtype=spec.dtype,
                compressors=store.compression.compressors())
        self.sizes = {n: 0 for n in self.arrays}
        self._pending: list[tuple[TrackEntry, dict[str, np.ndarray]]] = []
        self._pending_frames = 0

    def _validate(self, track_id: str, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = set(self.store.specs) - set(features)
        if missing:
            raise StoreError(f"{track_id}: missing features {sorted(missing)}")
        arrays = {}
        for name, spec in self.store.specs.items():
            x = np.asarray(features[name])
            expected_ndim = 1 if spec.is_tokens else 2
            if x.ndim != expected_ndim or (not spec.is_tokens and x.shape[1] != spec.dim):
                raise StoreError(f"{track_id}: feature {name} has shape {x.shape}, store expects "
                                 f"{'(frames,)' if spec.is_tokens else f'(frames, {spec.dim})'}")
            x = x.astype(spec.dtype)
            arrays[name] = x if spec.is_tokens else self.store.compression.round(x)
        return arrays

    def add(self, track_id: str, features: dict[str, np.ndarray], source: str = "", source_hash: str = "",
            duration: float = 0.0) -> None:
        arrays = self._validate(track_id, features)
        entry = TrackEntry(track_id, "ok", source, source_hash, duration, self.part)
        self._pending.append((entry, arrays))
        self._pending_frames += max(len(a) for a in arrays.values())
        if self._pending_frames >= self.flush_frames:
            self.flush()

    def add_stream(self, track_id: str, pieces: Iterable[dict[str, np.ndarray]], source: str = "",
                   source_hash: str = "", duration: float = 0.0) -> None:
        """Add a track given as consecutive pieces (e.g. :meth:`Booster.stream` windows), so a track of
        any length passes through bounded memory. A one-piece track takes the buffered path of
        :meth:`add`; a longer one is appended piece by piece and committed after its last piece. If
        ``pieces`` raises midway, nothing is committed: the appended data stays invisible."""
        it = iter(pieces)
        first = next(it, None)
        if first is None:
            raise StoreError(f"{track_id}: no data")
        second = next(it, None)
        if second is None:
            self.add(track_id, first, source, source_hash, duration)
            return
        self.flush()  # this track's pieces follow each other in every array
        starts = dict(self.sizes)
        # pieces are appended in blocks of about flush_frames rows: a zarr append costs about as much as
        # compressing 12 s of features, so one per window cost 9 % of `booster cache`'s time on one thread
        held: dict[str, list[np.ndarray]] = {name: [] for name in self.arrays}
        held_rows = 0

        def append_held() -> None:
            for name, xs in held.items():
                if xs:
                    block = np.concatenate(xs, axis=0)
                    self.arrays[name].append(block, axis=0)
                    self.sizes[name] += len(block)
                    xs.clear()

        for piece in itertools.chain((first, second), it):
            arrays = self._validate(track_id, piece)
            for name, x in arrays.items():
                held[name].append(x)
            held_rows += max(len(x) for x in arrays.values())
            if held_rows >= self.flush_frames:
                append_held()
                held_rows = 0
        append_held()
        entry = TrackEntry(track_id, "ok", source, source_hash, duration, self.part,
                           {n: [starts[n], self.sizes[n] - starts[n]] for n in self.arrays})
        self.store.commit(entry)

    def fail(self, track_id: str, reason: str, source: str = "") -> None:
        """Record a failed track (visible at once; a resumed run tries it again)."""
        self.store.commit(TrackEntry(track_id, "failed", source, error=reason))

    def flush(self) -> None:
        if not self._pending:
            return
        for name, arr in self.arrays.items():
            block = np.concatenate([a[name] for _, a in self._pending], axis=0)
            offset = self.sizes[name]
            for entry, a in self._pending:
                entry.offsets[name] = [offset, len(a[name])]
                offset += len(a[name])
            arr.append(block, axis=0)
            self.sizes[name] = offset
        for entry, _ in self._pending:  # data is on disk: now make each track visible
            self.store.commit(entry)
        self._pending, self._pending_frames = [], 0

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
