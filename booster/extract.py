"""``Booster``: the public entry point. Load a checkpoint, extract tokens and features from audio."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from booster.audio import stream_audio, to_model_audio, validate_wave
from booster.checkpoint import DEFAULT_CHECKPOINT, fingerprint, load_checkpoint
from booster.device import resolve_precision
from hqvae.foundation import FoundationModel
from hqvae.prior import PriorStream

#: the readout head's outputs in its teachers' space (:meth:`hqvae.readout.Readout.posteriors`), a feature
#: beside the readout's layer states: for Basic Pitch notes, 88 note then 88 onset probabilities per frame
READOUT_HEAD = "readout.head"


@dataclass
class BoosterOutput:
    """What :meth:`Booster.extract` returns.

    ``tokens[level]``: LongTensor ``(frames,)``; ``features[name]``: FloatTensor ``(frames, dim)``;
    ``frame_rates[name]``: frames per second of each entry (tokens are keyed by level name).
    """

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    frame_rates: dict[str, float] = field(default_factory=dict)


def exact_fp32_on(device: str | torch.device) -> bool:
    """Turn TF32 off (cuDNN convolutions and CUDA matmuls, process-wide) when ``device`` is a CUDA device;
    returns whether it did. cuDNN's TF32 is on by default, and with it 0.05 / 0.1 / 0.3 % of the top / mid
    / fine tokens of real recordings differ from the CPU's, features by up to 0.7 % of their scale; in full
    fp32 they are equal, at no loss of speed (188.6x realtime vs 174.1x with TF32, one H200;
    ``docs/feature-store.md``). A store must not depend on the device that wrote it."""
    if not str(device).startswith("cuda"):
        return False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return True


class Booster:
    #: seconds of audio per window, and codec context kept on each side of a window. 12, not 16: caching a
    #: 1-hour file peaked at 764 MiB instead of 885 (one run each, side by side), and one clean-clone run at 16
    #: went over 1 GiB (1051 MiB); 20 -> 16 had cost 2% of speed. The margin is over 3x the codec's reach: a
    #: latent depends on +-75 ms of audio, top-down path included (a test measures it), so 0.25 s, not the 1 s
    #: it was, gives the same tokens (75 s of real music: every token equal to one pass down to 0.05 s) and
    #: encodes 12.5 s of audio per 12 s window instead of 14
    window_s: float = 12.0
    codec_margin_s: float = 0.25

    def __init__(self, model: FoundationModel, checkpoint: str | Path | None = None, device: str = "cpu",
                 precision: str = "float32"):
        """On a CUDA ``device`` this turns TF32 off for the process (:func:`exact_fp32_on`). ``precision``
        (:data:`booster.device.PRECISIONS`): ``bfloat16`` runs the priors' layers under bfloat16 autocast, about
        2x faster where the device has native bfloat16 (the codec, hence every token, stays float32; features
        within 0.4 % relative L2 of float32's on real music: ``docs/feature-store.md``)."""
        exact_fp32_on(device)
        self.model = model.to(device).eval()
        self.device = device
        self.precision = resolve_precision(precision, str(device))
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.fingerprint = fingerprint(checkpoint) if checkpoint else None

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu",
                        precision: str = "float32") -> Booster:
        """Load a checkpoint folder; ``None`` loads the small model bundled with the package."""
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        return cls(load_checkpoint(path), path, device, precision)

    def _prior_autocast(self) -> torch.autocast:
        """The priors' compute precision (a context, entered around each call, never across a ``yield``)."""
        return torch.autocast("cuda" if str(self.device).startswith("cuda") else "cpu", dtype=torch.bfloat16,
                              enabled=self.precision == "bfloat16")

    @property
    def sample_rate(self) -> int:
        return self.model.config.codec.sample_rate

    @property
    def levels(self) -> tuple[str, ...]:
        return self.model.levels

    def frame_rate(self, level: str) -> float:
        return self.sample_rate / self.model.config.codec.hops[level]

    def feature_names(self) -> list[str]:
        names = []
        for level in self.levels:
            names.append(f"{level}.embedding")
            if self.model.priors:
                names += [f"{level}.layer{i}" for i in self.model.config.feature_layers]
        if self.model.readout is not None:
            names += [f"readout.layer{i}" for i in range(1, self.model.readout.depth + 1)] + [READOUT_HEAD]
        return names

    def coarse_feature_names(self) -> list[str]:
        """Every feature of the two coarsest levels and the readout over them: what the downstream tasks,
        ``booster probe`` and the HEAR module read (the finest level's prior costs most of the extraction
        time)."""
        return [n for n in self.feature_names() if self.feature_level(n) in self.levels[:2]]

    def feature_level(self, name: str) -> str:
        """The finest level a feature reads: its own, or the second level for the readout."""
        prefix = name.split(".")[0]
        return self.levels[1] if prefix == "readout" else prefix

    def feature_rate(self, name: str) -> float:
        """Frames per second of a feature (the readout runs at the top level's rate)."""
        return self.frame_rate(self.levels[0] if name.startswith("readout.") else name.split(".")[0])

    def feature_dim(self, name: str) -> int:
        """Width of a feature's frames."""
        cfg = self.model.config
        if name.endswith(".embedding"):
            return cfg.codec.latent_dim
        if name == READOUT_HEAD:
            return cfg.readout.outputs
        return cfg.readout.dim if name.startswith("readout.") else cfg.prior.dim

    def readout_sources(self) -> tuple[list[str], list[str]]:
        """The features the readout reads (:meth:`hqvae.readout.Readout.inputs`): of the top level, then of
        the second."""
        layers = self.model.config.readout.source_layers
        return tuple([f"{lv}.embedding", *(f"{lv}.layer{j}" for j in layers)] for lv in self.levels[:2])

    def _split_readout(self, wanted: set[str]) -> tuple[list[str], set[str]]:
        """The readout features asked for, and what the layers under the readout must give: the other features
        asked for plus, if any readout feature is, the readout's sources."""
        readout = sorted(n for n in wanted if n.startswith("readout."))
        sources = set(sum(self.readout_sources(), [])) if readout else set()
        return readout, (wanted - set(readout)) | sources

    def _with_readout(self, windows: Iterator[BoosterOutput], readout: list[str], inner: set[str],
                      wanted: set[str]) -> Iterator[BoosterOutput]:
        """``windows`` with the ``readout`` features added and the sources nobody asked for dropped."""
        if not readout:
            return windows
        return readout_windows(windows, self.model.readout, readout, self.readout_sources(), sorted(inner - wanted),
                               self.feature_rate(readout[0]))

    def receptive_frames(self) -> int:
        """Past frames a prior layer stack can see: the left context a window needs to match one pass."""
        p = self.model.config.prior
        total = 8  # the causal positional conv
        for i in range(p.layers):
            total += 2 * p.block if p.pattern(i) == "local" else (p.taps - 1) * p.stride
        return total

    def _window_samples(self) -> int:
        """Samples per extraction window: ``window_s`` rounded down to a multiple of every level's
        ``hop * attention step``, so each window starts on a block boundary of every prior (then a
        window with :meth:`receptive_frames` of left context equals a single pass exactly)."""
        codec, p = self.model.config.codec, self.model.config.prior
        align = codec.total_hop
        for level in self.levels:
            align = math.lcm(align, codec.hops[level] * math.lcm(p.block, codec.total_hop // codec.hops[level]))
        return max(align, int(self.window_s * self.sample_rate) // align * align)

    def _context_frames(self) -> int:
        """Left context in frames, a multiple of every level's attention step."""
        p, codec = self.model.config.prior, self.model.config.codec
        step = math.lcm(p.block, *(codec.total_hop // codec.hops[lv] for lv in self.levels))
        return -(-self.receptive_frames() // step) * step

    def _token_windows(self, blocks: Iterator[np.ndarray]) -> Iterator[dict[str, torch.Tensor]]:
        """Tokens ``level -> (1, frames)`` window by window from model-rate mono blocks ``(1, samples)``.

        Each window is encoded with ``codec_margin_s`` of audio on both sides and only its centre
        kept; memory holds one window plus margins whatever the length of the stream.
        """
        codec = self.model.codec
        hop = codec.config.total_hop
        win = self._window_samples()
        margin = int(self.codec_margin_s * self.sample_rate) // hop * hop
        buf, buf_start, ended, a = np.zeros((1, 0), np.float32), 0, False, 0
        while True:
            while not ended and buf_start + buf.shape[1] < a + win + margin:
                block = next(blocks, None)
                if block is None:
                    ended = True
                else:
                    buf = np.concatenate([buf, block], axis=1)
            known = buf_start + buf.shape[1]
            if a >= known:
                return
            b = min(a + win, known)
            lo, hi = max(0, a - margin), min(known, b + margin)
            seg = codec.pad(torch.from_numpy(buf[:, lo - buf_start:hi - buf_start]).to(self.device))
            toks = codec.encode(seg)
            out = {}
            for lv in self.levels:
                h = codec.config.hops[lv]
                first = (a - lo) // h
                out[lv] = toks[lv][:, first:first + (-(-b // h) - a // h)]
            yield out
            a = b
            keep = max(0, a - margin) - buf_start  # drop audio no later window needs
            buf, buf_start = buf[:, keep:], buf_start + keep

    def _feature_windows(self, token_windows: Iterator[dict[str, torch.Tensor]], wanted: set[str],
                         levels: tuple[str, ...] | None = None) -> Iterator[BoosterOutput]:
        """Features of each window of tokens ``level -> (batch, frames)`` for ``levels`` (a coarse-to-fine
        prefix of the model's; default all); every value keeps its batch axis (``(batch, frames)``
        tokens, ``(batch, frames, dim)`` features). Prior layers run with :meth:`_context_frames` of past
        tokens kept from earlier windows, so the concatenation of the windows equals one pass over the
        whole sequence. With a ``feature_delay`` (delayed readout), layer features come out of
        :func:`delay_features`: one window later, equal to a single pass's states shifted."""
        readout, inner = self._split_readout(wanted)
        windows = self._with_readout(self._undelayed_windows(token_windows, inner, levels), readout, inner, wanted)
        delays = {n: self.model.config.delay_frames(n.split(".")[0]) for n in wanted
                  if ".layer" in n and n.split(".")[0] in self.levels}
        if not self.model.config.feature_delay or not delays:
            yield from windows
            return
        yield from delay_features(windows, delays)

    def _undelayed_windows(self, token_windows: Iterator[dict[str, torch.Tensor]], wanted: set[str],
                           levels: tuple[str, ...] | None = None) -> Iterator[BoosterOutput]:
        """Bidirectional priors (``bidirectional_levels``) also read :meth:`_context_frames` of *future*
        tokens, taken from the windows after this one (so a window is processed once the next has been
        encoded: one window more in memory)."""
        levels = tuple(levels or self.levels)
        ctx = self._context_frames()
        lookahead = any(not self.model.priors[lv].cfg.causal for lv in levels) if self.model.priors else False
        paired = with_lookahead(token_windows, ctx) if lookahead else ((w, None) for w in token_windows)
        layers_of = {lv: [j for j in self.model.config.feature_layers if f"{lv}.layer{j}" in wanted]
                     if self.model.priors else [] for lv in levels}
        history: dict[str, torch.Tensor | None] = {lv: None for lv in levels}  # <= ctx past frames
        # causal sparse priors keep each layer's own past (PriorStream): no context frame is computed twice
        streams = {lv: PriorStream(self.model.priors[lv]) for lv in levels
                   if layers_of[lv] and PriorStream.supports(self.model.priors[lv])}
        for window, future in paired:
            out = BoosterOutput()
            for i, level in enumerate(levels):
                tok = window[level]
                out.tokens[level] = tok
                out.frame_rates[level] = self.frame_rate(level)
                if f"{level}.embedding" in wanted:
                    out.features[f"{level}.embedding"] = self.model.codec.embed(level, tok)
                    out.frame_rates[f"{level}.embedding"] = self.frame_rate(level)
                if not layers_of[level]:
                    continue
                if level in streams:
                    with self._prior_autocast():
                        states = streams[level](tok, window[self.levels[i - 1]] if i > 0 else None)
                    for j in layers_of[level]:
                        out.features[f"{level}.layer{j}"] = states[j].float()
                        out.frame_rates[f"{level}.layer{j}"] = self.frame_rate(level)
                    continue
                prior, past = self.model.priors[level], history[level]
                ahead = future is not None and not prior.cfg.causal
                seq = torch.cat([x for x in (past, tok, future[level] if ahead else None) if x is not None], dim=1)
                n_past = 0 if past is None else past.shape[1]
                cond = None
                if i > 0:  # the level above, from the coarse frame where this level's context starts
                    above = self.levels[i - 1]
                    cpast = history[above]
                    cseq = torch.cat([x for x in (cpast, window[above], future[above] if ahead else None)
                                      if x is not None], dim=1)
                    cond = cseq[:, (0 if cpast is None else cpast.shape[1]) - n_past // prior.cond_ratio:]
                with self._prior_autocast():
                    states = prior.hidden_states(seq, cond)
                for j in layers_of[level]:
                    out.features[f"{level}.layer{j}"] = states[j][:, n_past:n_past + tok.shape[1]].float()
                    out.frame_rates[f"{level}.layer{j}"] = self.frame_rate(level)
            for level in levels:
                past = history[level]
                seq = window[level] if past is None else torch.cat([past, window[level]], dim=1)
                history[level] = seq[:, max(0, seq.shape[1] - ctx):]
            yield out

    @torch.inference_mode()
    def features_from_tokens(self, tokens: dict[str, np.ndarray | torch.Tensor],
                             features: list[str]) -> BoosterOutput:
        """Prior-layer features from tokens alone (no audio, no codec): what a store that kept only tokens
        computes on read. ``tokens[level]``: ``(frames,)`` for every level up to the finest one asked
        for (a level's prior reads the level above). Runs window by window like :meth:`stream`, so the
        result equals extraction from the audio up to float rounding.
        """
        wanted = self._wanted(features)
        deepest = max((self.levels.index(self.feature_level(n)) for n in wanted), default=-1)
        need = self.levels[:deepest + 1]
        missing = [lv for lv in need if lv not in tokens]
        if missing:
            raise ValueError(f"features {sorted(wanted)} need the tokens of {list(need)}; missing {missing}")
        seqs = {lv: torch.as_tensor(np.asarray(tokens[lv]), dtype=torch.long, device=self.device) for lv in need}
        win = self._window_samples()
        hops = self.model.config.codec.hops

        def windows() -> Iterator[dict[str, torch.Tensor]]:
            n = -(-len(seqs[need[0]]) * hops[need[0]] // win)
            for k in range(n):
                yield {lv: seqs[lv][None, k * win // hops[lv]:(k + 1) * win // hops[lv]] for lv in need}

        return concat_outputs([_row(w, 0) for w in self._feature_windows(windows(), wanted, need)])

    def _blocks(self, source, sample_rate: int | None) -> Iterator[np.ndarray]:
        """Model-rate mono blocks ``(1, samples)`` of a file path (streamed), an in-memory waveform, or an
        iterator that already yields such blocks."""
        if isinstance(source, Iterator):
            yield from source
            return
        if isinstance(source, (str, Path)):
            yield from stream_audio(source, self.sample_rate, mono=True, block_seconds=self.window_s / 2)
            return
        if sample_rate is None:
            raise ValueError("sample_rate is needed for an in-memory waveform")
        yield to_model_audio(validate_wave(source, sample_rate), sample_rate, self.sample_rate, mono=True)

    @torch.inference_mode()
    def stream(self, source, sample_rate: int | None = None,
               features: list[str] | None = None) -> Iterator[BoosterOutput]:
        """Extract window by window: yields one :class:`BoosterOutput` per ``window_s`` of audio (the last
        may be shorter); concatenating them gives :meth:`extract`'s result.

        ``source``: an audio file path (decoded and resampled in blocks, so a file of any length is
        processed in bounded memory), a waveform ``(samples,)`` / ``(channels, samples)`` at
        ``sample_rate``, or an iterator of mono blocks ``(1, samples)`` already at the model rate.
        """
        wanted = self._wanted(features)
        with torch.inference_mode():
            for out in self._feature_windows(self._token_windows(self._blocks(source, sample_rate)), wanted):
                yield _row(out, 0)

    def _wanted(self, features: list[str] | None) -> set[str]:
        wanted = set(features) if features is not None else set(self.feature_names())
        unknown = wanted - set(self.feature_names())
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; available: {self.feature_names()}")
        return wanted

    @torch.inference_mode()
    def extract_batch(self, waves: list, sample_rate: int, features: list[str] | None = None,
                      batch_size: int = 16) -> list[BoosterOutput]:
        """:meth:`extract` for many short clips at once: clips of similar length are zero-padded into
        batches of ``batch_size``, run through codec and priors together, and cut back to each clip's
        own frame count. Clips longer than ``window_s`` go through :meth:`extract` one by one.

        Results equal one-by-one extraction except the last few frames of a padded clip (the codec's
        right context sees zeros there either way, but zero *samples* rather than zero *padding*).
        """
        wanted = self._wanted(features)
        audios = [to_model_audio(validate_wave(w, sample_rate), sample_rate, self.sample_rate, mono=True)
                  for w in waves]
        results: list[BoosterOutput | None] = [None] * len(audios)
        limit = self._window_samples()
        short = sorted((i for i, a in enumerate(audios) if a.shape[1] <= limit), key=lambda i: audios[i].shape[1])
        for i, a in enumerate(audios):
            if a.shape[1] > limit:
                results[i] = self._extract_audio(a, wanted)
        codec = self.model.codec
        readout, inner = self._split_readout(wanted)
        for k in range(0, len(short), batch_size):
            group = short[k:k + batch_size]
            n_max = audios[group[-1]].shape[1]
            x = np.zeros((len(group), n_max), dtype=np.float32)
            for row, i in enumerate(group):
                x[row, :audios[i].shape[1]] = audios[i][0]
            tokens = codec.encode(codec.pad(torch.from_numpy(x).to(self.device)))
            batch_out = next(self._feature_windows(iter([tokens]), inner))
            for row, i in enumerate(group):
                n = audios[i].shape[1]
                res = _row(batch_out, row, {lv: -(-n // codec.config.hops[lv]) for lv in self.levels})
                # per clip: in the batch, the bidirectional readout would see the padding of shorter clips
                results[i] = _row(next(self._with_readout(iter([_batched(res)]), readout, inner, wanted)), 0)
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def extract(self, wave, sample_rate: int, features: list[str] | None = None) -> BoosterOutput:
        """Tokens and features of one waveform ``(samples,)`` or ``(channels, samples)`` at any rate.

        Long audio is processed in ``window_s`` windows (bounded memory); away from the file's
        edges the result equals a single pass up to float rounding.
        """
        audio = to_model_audio(validate_wave(wave, sample_rate), sample_rate, self.sample_rate, mono=True)
        return self._extract_audio(audio, self._wanted(features))

    def _extract_audio(self, audio: np.ndarray, wanted: set[str]) -> BoosterOutput:
        windows = self._feature_windows(self._token_windows(iter([audio])), wanted)
        return concat_outputs([_row(w, 0) for w in windows])


def _row(out: BoosterOutput, row: int, frames: dict[str, int] | None = None) -> BoosterOutput:
    """One item of a batched output, on the CPU in float32, cut to ``frames[level]`` if given (a batched
    output holds no readout features: those are computed per item)."""
    def cut(name: str, x: torch.Tensor) -> torch.Tensor:
        return x[row, :frames[name.split(".")[0]]] if frames else x[row]

    return BoosterOutput({k: cut(k, v).cpu() for k, v in out.tokens.items()},
                         {k: cut(k, v).float().cpu() for k, v in out.features.items()}, dict(out.frame_rates))


def _batched(out: BoosterOutput) -> BoosterOutput:
    """One item as a batch of one (the inverse of :func:`_row`)."""
    return BoosterOutput({k: v[None] for k, v in out.tokens.items()}, {k: v[None] for k, v in out.features.items()},
                         dict(out.frame_rates))


def readout_windows(windows: Iterator[BoosterOutput], readout, names: list[str], sources: tuple[list[str], list[str]],
                    drop: list[str], rate: float) -> Iterator[BoosterOutput]:
    """The readout's features ``names`` (``readout.layer{i}``, :data:`READOUT_HEAD`) over a stream of windows
    that carry its ``sources`` (top level's, second level's). Its attention looks both ways, so each window runs with
    :meth:`hqvae.readout.Readout.receptive_frames` of projected inputs from the windows before and after it:
    the concatenation equals one pass over the whole stream. The ``drop`` features (sources nobody asked
    for) are removed. Memory holds about one window more.
    """
    ctx = readout.receptive_frames()
    pending: list[BoosterOutput] = []

    def inputs() -> Iterator[dict[str, torch.Tensor]]:
        for out in windows:
            pending.append(out)
            f = out.features
            yield {"x": readout.inputs([f[n] for n in sources[0]], [f[n] for n in sources[1]])}

    past: torch.Tensor | None = None
    for window, future in with_lookahead(inputs(), ctx):
        out, x = pending.pop(0), window["x"]
        n_past = 0 if past is None else past.shape[1]
        states = readout.run(torch.cat([t for t in (past, x, future["x"]) if t is not None], dim=1))
        for n in names:
            state = readout.posteriors(states) if n == READOUT_HEAD else states[int(n.removeprefix("readout.layer"))]
            out.features[n] = state[:, n_past:n_past + x.shape[1]]
            out.frame_rates[n] = rate
        past = (x if past is None else torch.cat([past, x], dim=1))[:, -ctx:]
        for n in drop:
            out.features.pop(n, None)
            out.frame_rates.pop(n, None)
        yield out


def with_lookahead(windows: Iterator[dict[str, torch.Tensor]],
                   frames: int) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """Each window of tokens ``level -> (batch, frames)`` with the (up to) ``frames`` frames of every level
    that follow it in the stream, gathered from the next windows (fewer at the end of the stream)."""
    queue: list[dict[str, torch.Tensor]] = []

    def future() -> dict[str, torch.Tensor]:
        first = queue[0]
        return {lv: torch.cat([first[lv][:, :0], *(w[lv] for w in queue[1:])], dim=1)[:, :frames] for lv in first}

    for window in windows:
        queue.append(window)
        while len(queue) > 1 and all(sum(w[lv].shape[1] for w in queue[1:]) >= frames for lv in queue[0]):
            yield queue[0], future()
            queue.pop(0)
    while queue:
        yield queue[0], future()
        queue.pop(0)


def delay_features(windows: Iterator[BoosterOutput], delays: dict[str, int]) -> Iterator[BoosterOutput]:
    """Delayed readout over a stream of windows: feature ``name`` of frame ``t`` becomes the value the
    undelayed stream has at ``t + delays[name]`` (frames of that feature); frames whose ``t + delay``
    is past the end of the stream take its last frame (the state that has seen the most).

    Every window keeps its frame counts, so it is yielded once the windows after it have brought the
    frames it needs: memory holds about one window more. Features ``(batch, frames, dim)``.
    """
    pending: list[BoosterOutput] = []
    buffers: dict[str, list[torch.Tensor]] = {n: [] for n in delays}  # frames t + delay onwards, not yet used
    skip = dict(delays)  # leading frames of the stream still to drop (they belong to frames before 0)
    last: dict[str, torch.Tensor] = {}

    def have(name: str) -> int:
        return sum(x.shape[1] for x in buffers[name])

    def take(name: str, n: int) -> torch.Tensor:
        x = torch.cat(buffers[name], dim=1)
        buffers[name] = [x[:, n:]]
        return x[:, :n]

    def ready() -> Iterator[BoosterOutput]:
        while pending and all(have(n) >= pending[0].features[n].shape[1] for n in delays):
            out = pending.pop(0)
            for n in delays:
                out.features[n] = take(n, out.features[n].shape[1])
            yield out

    for window in windows:
        for n in delays:
            x = window.features[n]
            last[n] = x[:, -1:]
            drop = min(skip[n], x.shape[1])
            skip[n] -= drop
            buffers[n].append(x[:, drop:])
        pending.append(window)
        yield from ready()
    for n in delays:  # the end of the stream: the last state stands in for frames past it
        short = sum(w.features[n].shape[1] for w in pending) - have(n)
        if short > 0:
            buffers[n].append(last[n].expand(-1, short, -1))
    yield from ready()


def concat_outputs(windows: list[BoosterOutput]) -> BoosterOutput:
    """Join consecutive :meth:`Booster.stream` windows into one :class:`BoosterOutput`."""
    first = windows[0]
    return BoosterOutput({k: torch.cat([w.tokens[k] for w in windows]) for k in first.tokens},
                         {k: torch.cat([w.features[k] for w in windows]) for k in first.features},
                         dict(first.frame_rates))
