"""``booster pretrain``: stage 1 then stage 2 within a wall-clock budget, resumable.

Layout of ``--out``:
  ``train/stage1-last.ckpt``, ``train/stage2-last.ckpt``  Lightning checkpoints (our own files; resume)
  ``train/stage1.done``                                    stage 1 finished
  ``logs/``                                               CSV logs (losses, usage, perplexity, variance)
  ``config.json`` + ``model.safetensors``                 the final checkpoint
  ``training.json``                                       steps, wall time, final logged values

Rerunning with the same ``--out`` resumes: each stage's wall-clock budget counts the minutes already
spent. To train a finished run on, delete ``train/stage1.done`` and rerun with a larger
``--stage1-minutes`` (and ``--minutes``): stage 1 goes on from its checkpoint, then stage 2 goes on
training its priors (its checkpoint holds no codec) on the new codec's tokens.

Given a token corpus (``booster data tokenize``) instead of audio, stage 2 trains on its tokens and
teacher targets: no audio, no codec pass and no teacher run, so the corpus travels to a GPU machine
(``--device cuda``). The corpus names its codec; ``--init`` must be a checkpoint with that codec, and
stage 1 is skipped (``--stage1-minutes 0``).

``--init CKPT_DIR`` starts a new run from a finished checkpoint's weights (the bundled model, or a run
whose Lightning state is gone): its config is used, its stage-1 step count carries the Gumbel
temperature and the crop sequence on, and the optimizers start afresh. With ``--fresh-priors`` the priors this run
trains start from fresh weights instead (the codec and readout are the checkpoint's). ``--lr-schedule cosine``
anneals each stage's learning rate to 0 over its wall-clock minutes.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from booster.audio import AudioError, find_audio, load_audio
from booster.checkpoint import fingerprint, load_checkpoint, read_config, save_checkpoint
from booster.device import check_device
from hqvae.foundation import CONFIGS, FoundationModel


@dataclass
class PretrainConfig:
    config: str = "tiny"
    minutes: float = 30.0
    stage1_share: float = 0.7
    stage1_minutes: float | None = None  # overrides stage1_share: minutes of stage 1, the rest is stage 2
    batch_size: int = 8
    crop_seconds: float = 0.75
    lr: float = 1e-3
    warmup_steps: int = 100
    seed: int = 0
    threads: int | None = None
    checkpoint_every: int = 200
    quantizer: str | None = None  # override: "vq" trains the baseline codec (stage 1 only)
    recalibration_batches: int = 60
    glob: str | None = None  # train only on files matching this pattern under the folder, e.g. "*/*/mix.flac"
    init: str | None = None  # start from this checkpoint folder's weights and config
    lr_schedule: str = "constant"  # or "cosine": to 0 over each stage's minutes (WallClockCosineLR)
    lr_warmup_steps: int | None = None  # linear LR warm-up of the cosine; default 200 with --init, else 0
    teachers: tuple[str, ...] = ()  # stage-2 teacher targets (booster.teachers), e.g. ("basic-pitch",)
    teacher_weight: float = 1.0
    teacher_delay: int = 0  # top-level frames of right context the teacher heads read (Stage2Module)
    bidirectional_levels: tuple[str, ...] = ()  # priors made bidirectional masked-token models (e.g. top,mid)
    teacher_cache: str | None = None  # where teacher targets are kept (default: OUT/teacher-cache)
    prior_levels: tuple[str, ...] = ()  # priors stage 2 trains (default: all); the others keep their weights
    contrastive_weight: float = 0.0  # stage 2: InfoNCE between two crops of one file (self-supervised)
    stage2_crop_seconds: float | None = None  # stage-2 crops (default: crop_seconds); longer = more context
    device: str = "cpu"  # "cuda": train on a GPU (float32, TF32 matmuls); the checkpoint is saved for CPU
    loader_workers: int = 0  # DataLoader worker processes (token corpora on a GPU keep the GPU fed with a few)
    readout: bool = False  # stage 2 also trains a readout stack (hqvae.readout) on every teacher's targets (channels side by side)
    readout_only: bool = False  # stage 2 trains the readout alone; the priors keep their weights
    # weight of each readout teacher's loss, in --teachers order (default 1 each): the readout's trunk is shared,
    # so a teacher whose loss is larger (an MSE regression beside BCE notes) would otherwise take it over
    readout_weights: tuple[float, ...] = ()
    fresh_priors: bool = False  # with --init: the priors this run trains start from fresh weights (codec, readout kept)


def choose_clip(seed: int, item: int, p: np.ndarray, pairs: bool = False) -> tuple[int, np.random.Generator]:
    """Crop ``item``'s clip (drawn with probabilities ``p``) and the generator that places it in the clip;
    fixed by ``(seed, item)``. With ``pairs``, items ``2j`` and ``2j + 1`` draw the same clip."""
    rng = np.random.default_rng((seed, item))
    chooser = np.random.default_rng((seed, item // 2, 0)) if pairs else rng
    return int(chooser.choice(len(p), p=p)), rng


class RandomCrops(Dataset):
    """Random fixed-length mono crops from audio held in memory; crop ``i`` is fixed by ``(seed, start + i)``.

    A resumed run passes ``start`` = crops already seen, so it goes on with new crops instead of
    replaying the sequence from its beginning (the loader itself restarts at index 0).

    With ``pairs``, items ``2j`` and ``2j + 1`` are crops of the same clip (the positives of a
    contrastive objective; ``start`` and the batch size must then be even).

    With ``targets`` (per clip, ``teacher -> (frames, channels)`` on a grid of ``hop`` samples), a crop
    starts on that grid and an item is ``{"audio": (samples,), "teachers": {name: (samples // hop, channels)}}``.
    """

    def __init__(self, clips: list[np.ndarray], samples: int, seed: int = 0, length: int = 10**7, start: int = 0,
                 targets: list[dict[str, np.ndarray]] | None = None, hop: int = 1, pairs: bool = False):
        keep = [i for i, c in enumerate(clips) if len(c) > samples]
        self.clips = [clips[i] for i in keep]
        self.targets = [targets[i] for i in keep] if targets is not None else None
        if not self.clips:
            raise ValueError(f"no clip is longer than the {samples}-sample crop")
        weights = np.array([len(c) for c in self.clips], dtype=np.float64)
        self.p = weights / weights.sum()
        self.samples, self.seed, self.length, self.start, self.hop = samples, seed, length, start, hop
        self.pairs = pairs

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        k, rng = choose_clip(self.seed, self.start + i, self.p, self.pairs)
        clip = self.clips[k]
        start = int(rng.integers(0, len(clip) - self.samples))
        if self.targets is None:
            return torch.from_numpy(clip[start:start + self.samples].copy())
        a, frames = start // self.hop, self.samples // self.hop
        start = a * self.hop
        return {"audio": torch.from_numpy(clip[start:start + self.samples].copy()),
                "teachers": {name: torch.from_numpy(y[a:a + frames].copy()) for name, y in self.targets[k].items()}}


def load_clips(files: list[Path], sample_rate: int,
               kept: list[Path] | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Mono audio of every readable, non-silent file, and the failures; ``kept`` (if given) receives
    the file of each clip, in order."""
    clips, failures = [], []
    for f in files:
        try:
            audio, _ = load_audio(f, sample_rate, mono=True)
        except AudioError as err:
            failures.append(str(err))
            continue
        if np.abs(audio).max() > 1e-4:  # silent stems teach nothing
            clips.append(audio[0])
            if kept is not None:
                kept.append(f)
    return clips, failures


def teacher_grid(files: list[Path], clips: list[np.ndarray], names: list[str], cache: Path, sample_rate: int,
                 hop: int) -> list[dict[str, np.ndarray]]:
    """Teacher targets of every clip on the top level's grid (one frame per ``hop`` samples):
    ``teacher -> (ceil(samples / hop), channels)`` float32, computed once per file and cached."""
    from booster.align import align
    from booster.teachers import TEACHER_SPECS, teacher_targets, to_teacher_rate

    raw = teacher_targets(files, [to_teacher_rate(c, sample_rate) for c in clips], names, cache)
    grid = []
    for clip, per_file in zip(clips, raw, strict=True):
        n = -(-len(clip) // hop)
        grid.append({name: align(y, TEACHER_SPECS[name].fps, sample_rate / hop, n_frames=n).astype(np.float32)
                     for name, y in per_file.items()})
    return grid


def _token_corpus(path: Path, cfg: PretrainConfig):
    """The token corpus at ``path`` (checked against ``cfg``), or None when ``path`` holds audio."""
    if not (path / "manifest.json").exists() or not (path / "tokens.npz").exists():
        return None
    from booster.token_corpus import TokenCorpus

    corpus = TokenCorpus.load(path)
    if not cfg.init or cfg.stage1_minutes != 0:
        raise ValueError(f"{path} is a token corpus: it trains stage 2 only; pass --init with a checkpoint of its "
                         f"codec and --stage1-minutes 0")
    missing = [t for t in cfg.teachers if t not in corpus.manifest["teachers"]]
    if missing:
        raise ValueError(f"{path}: the token corpus has no targets of teachers {missing} (it has "
                         f"{sorted(corpus.manifest['teachers'])}); re-tokenize with --teachers")
    extra = [lv for lv in cfg.prior_levels if lv not in corpus.manifest["levels"]]
    if extra:
        raise ValueError(f"{path}: the token corpus holds levels {corpus.manifest['levels']}, not {extra}")
    if cfg.glob:
        raise ValueError(f"{path} is a token corpus: --glob selects audio files and does not apply")
    return corpus


def steps_done(checkpoint: Path) -> int:
    """Optimizer steps recorded in a Lightning checkpoint; 0 when there is none."""
    if not checkpoint.exists():
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True).get("global_step", 0))


@torch.no_grad()
def recalibrate_latent_norms(model: FoundationModel, loader: DataLoader, batches: int) -> None:
    """Precise BatchNorm: replace the latent norms' running statistics by their average over
    ``batches`` training batches. Training normalises each small batch by its own statistics; the
    EMA of those is a poor population estimate, and inference with it shifted latents enough to
    drop most codes (held-out top-level usage 29% before, 95% after on the bundled model)."""
    codec = model.codec
    was = codec.training
    codec.eval()
    for norm in codec.latent_norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
        norm.train()
    for i, batch in enumerate(loader):
        if i >= batches:
            break
        codec(batch, quantize=True)
    for norm in codec.latent_norms:
        norm.momentum = 0.1
    codec.train(was)


def initial_model(cfg: PretrainConfig) -> tuple[FoundationModel, dict]:
    """The model a run starts from: fresh from ``cfg.config``, or the ``cfg.init`` checkpoint's.
    Returns it and what the run records about its start (``{}`` for a fresh model)."""
    if not cfg.init:
        fcfg = CONFIGS[cfg.config]()
        if cfg.quantizer:
            fcfg.codec.quantizer = cfg.quantizer
            fcfg.with_priors = False
        return FoundationModel(fcfg), {}
    model = load_checkpoint(cfg.init)  # validates the folder, config and every tensor's shape
    if cfg.quantizer and cfg.quantizer != model.config.codec.quantizer:
        raise ValueError(f"--init {cfg.init} holds a {model.config.codec.quantizer!r} codec, not --quantizer "
                         f"{cfg.quantizer!r}; drop --quantizer or start from a matching checkpoint")
    training = read_config(cfg.init).get("extra", {}).get("training", {})
    start = {"init": str(cfg.init), "init_fingerprint": fingerprint(cfg.init),
             "init_stage1_steps": int(training.get("stage1_steps", 0)),
             "init_stage2_steps": int(training.get("stage2_steps", 0))}
    parent = _training_record(Path(cfg.init))
    if parent:  # how the parts this run keeps were trained (a readout-only run's card names its priors' teachers)
        start["init_training"] = parent
    return model.train(), start


def _training_record(ckpt: Path) -> dict | None:
    """A checkpoint folder's ``training.json`` (what ``pretrain`` wrote), or None when it has none or it is not
    a JSON object."""
    try:
        record = json.loads((ckpt / "training.json").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def with_fresh_priors(model: FoundationModel, levels: tuple[str, ...], seed: int = 0) -> FoundationModel:
    """``model`` with the priors of ``levels`` re-initialised as a fresh model of its config would have them
    (seeded), everything else kept: a prior trained from the start under a new objective, on a finished codec."""
    unknown = set(levels) - set(model.priors.keys())
    if unknown or not levels:
        raise ValueError(f"--fresh-priors: no prior to re-initialise for levels {sorted(unknown) or list(levels)} "
                         f"(the model's priors: {list(model.priors.keys())})")
    with torch.random.fork_rng():  # seeded here without moving the run's own random stream
        torch.manual_seed(seed)
        fresh = FoundationModel(model.config)
    for level in levels:
        model.priors[level].load_state_dict(fresh.priors[level].state_dict())
    return model


def with_bidirectional_priors(model: FoundationModel, levels: tuple[str, ...],
                              trained: tuple[str, ...] = ()) -> FoundationModel:
    """``model`` with the priors of ``levels`` made bidirectional masked-token models (same weights: a
    next-token prior's are a starting point). Only priors this run trains may change kind."""
    unknown = set(levels) - set(model.levels)
    if unknown:
        raise ValueError(f"--bidirectional-levels {sorted(unknown)}: the model's levels are {list(model.levels)}")
    untrained = set(levels) - set(trained or model.levels)
    if untrained:
        raise ValueError(f"--bidirectional-levels {sorted(untrained)} would not be trained: add them to --prior-levels")
    if not model.config.with_priors:
        raise ValueError("--bidirectional-levels needs a model with priors")
    keep = set(levels) | set(model.config.bidirectional_levels)
    rebuilt = FoundationModel(replace(model.config, bidirectional_levels=tuple(lv for lv in model.levels if lv in keep)))
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt.train(model.training)


def with_readout(model: FoundationModel, channels: int | list[int], loss: str | list[str] = "bce") -> FoundationModel:
    """``model`` with a readout stack whose head predicts its teachers' ``channels`` side by side, each teacher
    scored by its ``loss`` ("bce" or "mse"; one for all, or one per teacher). The head's feature is sigmoid
    probabilities where a teacher is "bce", raw outputs where it is "mse" (``ReadoutConfig.head_segments``).

    A model that has a readout keeps it if its head has that width; a head narrower than that, whose width
    is that of the first teachers, is widened for the others (its trained rows kept, the new ones fresh):
    a readout trained on Basic Pitch learns a key teacher beside it without starting over.
    """
    from hqvae.readout import ReadoutConfig

    widths = [channels] if isinstance(channels, int) else list(channels)
    kinds = [loss] * len(widths) if isinstance(loss, str) else list(loss)
    if len(kinds) != len(widths) or set(kinds) - {"bce", "mse"}:
        raise ValueError(f"one loss per teacher, 'bce' or 'mse': got {kinds} for {len(widths)} teachers")
    total = sum(widths)
    activation = {"bce": "sigmoid", "mse": "none"}
    runs: list[tuple[int, str]] = []  # adjacent teachers of one kind make one run of the head
    for w, k in zip(widths, kinds, strict=True):
        if runs and runs[-1][1] == activation[k]:
            runs[-1] = (runs[-1][0] + w, activation[k])
        else:
            runs.append((w, activation[k]))
    one = len(runs) == 1
    heads = {"head_activation": runs[0][1], "head_segments": () if one else tuple(runs)}
    if model.readout is not None:
        have = model.readout.cfg.outputs
        if have == total:
            if model.readout.cfg.activations() != runs:
                raise ValueError(f"the model's readout head has activations {model.readout.cfg.activations()}, "
                                 f"these teachers need {runs}: list the teachers it was trained on, in order")
            return model
        if have not in np.cumsum(widths)[:-1].tolist():
            raise ValueError(f"the model's readout predicts {have} channels, the teachers have {widths}: train it with "
                             "the teachers it was made for, listed first")
        config = replace(model.config, readout=replace(model.readout.cfg, outputs=total, **heads))
    elif not model.config.with_priors:
        raise ValueError("--readout needs a model with priors")
    else:
        config = replace(model.config, readout=replace(ReadoutConfig.for_prior(model.config.prior, total), **heads))
    rebuilt = FoundationModel(config)
    state = model.state_dict()
    if model.readout is not None:  # keep the trained rows of the narrower head
        fresh = rebuilt.state_dict()
        for key in ("readout.head.weight", "readout.head.bias"):
            fresh[key][:have] = state[key]
            state[key] = fresh[key]
    missing, unexpected = rebuilt.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("readout.") for k in missing)
    return rebuilt.train(model.training)


def _trainer(out: Path, stage: str, max_minutes: float, every: int, lr_schedule: str = "constant",
             lr_warmup_steps: int = 0, device: str = "cpu"):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from hqvae.lightning import WallClockCosineLR

    # one rolling checkpoint per stage, rewritten every `every` steps: what a resumed run starts from
    last = ModelCheckpoint(dirpath=out / "train", filename=f"{stage}-last", every_n_train_steps=every,
                           save_top_k=1, monitor="step", mode="max", enable_version_counter=False)
    callbacks = [last] + ([WallClockCosineLR(lr_warmup_steps)] if lr_schedule == "cosine" else [])
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    return L.Trainer(max_time=timedelta(minutes=max_minutes), accelerator=accelerator, devices=1,
                     logger=CSVLogger(out / "logs", name=stage), callbacks=callbacks,
                     enable_checkpointing=True, log_every_n_steps=10, gradient_clip_val=1.0,
                     enable_model_summary=False, num_sanity_val_steps=0, max_epochs=-1)


def pretrain(audio_dir: str | Path, out: str | Path, cfg: PretrainConfig) -> dict:
    """Train the foundation model on every audio file under ``audio_dir``; returns the training summary."""
    from hqvae.lightning import Stage1Module, Stage2Module

    audio_dir, out = Path(audio_dir), Path(out)
    if cfg.config not in CONFIGS:
        raise ValueError(f"--config must be one of {', '.join(CONFIGS)} (got {cfg.config!r})")
    if cfg.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"--lr-schedule must be constant or cosine (got {cfg.lr_schedule!r})")
    if cfg.minutes <= 0:
        raise ValueError(f"--minutes must be > 0 (got {cfg.minutes})")
    skip_stage1 = bool(cfg.init) and cfg.stage1_minutes == 0  # train the priors of a finished codec only
    if cfg.stage1_minutes is not None and not skip_stage1 and not 0 < cfg.stage1_minutes < cfg.minutes:
        raise ValueError(f"--stage1-minutes must be > 0 (or 0 with --init: priors only) and below --minutes "
                         f"(got {cfg.stage1_minutes} of {cfg.minutes})")
    if cfg.contrastive_weight > 0 and cfg.batch_size % 2:
        raise ValueError(f"--contrastive-weight pairs crops in a batch: --batch-size must be even (got {cfg.batch_size})")
    if cfg.teacher_delay < 0 or (cfg.teacher_delay and not cfg.teachers):
        raise ValueError(f"--teacher-delay must be >= 0 and needs --teachers (got {cfg.teacher_delay})")
    if (cfg.readout or cfg.readout_only) and not cfg.teachers:
        raise ValueError("--readout trains on a teacher's targets: give --teachers")
    if cfg.readout_weights and (not (cfg.readout or cfg.readout_only) or len(cfg.readout_weights) != len(cfg.teachers)
                                or min(cfg.readout_weights) < 0):
        raise ValueError(f"--readout-weights needs --readout or --readout-only and one weight >= 0 per teacher "
                         f"(got {list(cfg.readout_weights)} for {list(cfg.teachers)})")
    if cfg.teachers:
        from booster.teachers import TEACHER_SPECS

        unknown = [t for t in cfg.teachers if t not in TEACHER_SPECS]
        if unknown:
            raise ValueError(f"unknown teachers {unknown}; choose from {', '.join(TEACHER_SPECS)}")
    corpus = _token_corpus(audio_dir, cfg)
    files = [] if corpus else find_audio(audio_dir, cfg.glob)
    if not corpus and not files:
        raise ValueError(f"{audio_dir}: no audio files found" + (f" matching {cfg.glob!r}" if cfg.glob else ""))
    if check_device(cfg.device, "train with --device cpu").startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*weights_only.*")
    warnings.filterwarnings("ignore", ".*dataloader is not resumable.*")  # RandomCrops(start=...) resumes it

    model, start = initial_model(cfg)
    # the priors stage 2 trains: those asked for, else the corpus's levels, else all
    trained_levels = cfg.prior_levels or (tuple(corpus.manifest["levels"]) if corpus else tuple(model.levels))
    if cfg.bidirectional_levels:
        model = with_bidirectional_priors(model, cfg.bidirectional_levels, trained_levels)
    if cfg.fresh_priors:
        if not cfg.init or cfg.readout_only:
            raise ValueError("--fresh-priors re-initialises the priors of an --init checkpoint that this run trains: "
                             "pass --init, and drop --readout-only")
        model = with_fresh_priors(model, trained_levels, cfg.seed)
        start["init_stage2_steps"] = 0  # the priors' steps are this run's alone
        start["fresh_priors"] = True
    if cfg.readout or cfg.readout_only:
        from booster.teachers import head_specs

        specs = head_specs(cfg.teachers)
        model = with_readout(model, [s.channels for s in specs], [s.loss for s in specs])
    fcfg = model.config
    offset = start.get("init_stage1_steps", 0)  # stage-1 steps the codec trained before this run
    lr_warmup = cfg.lr_warmup_steps if cfg.lr_warmup_steps is not None else (200 if cfg.init else 0)
    sr = fcfg.codec.sample_rate
    t0 = time.time()
    kept: list[Path] = []
    if corpus:
        corpus.check_codec(model)
        clips, failures, hours = [], list(corpus.manifest["failures"]), corpus.manifest["hours"]
    else:
        clips, failures = load_clips(files, sr, kept)
        hours = sum(len(c) for c in clips) / sr / 3600
    samples = int(cfg.crop_seconds * sr) // fcfg.codec.total_hop * fcfg.codec.total_hop
    samples2 = int((cfg.stage2_crop_seconds or cfg.crop_seconds) * sr) // fcfg.codec.total_hop * fcfg.codec.total_hop

    out.mkdir(parents=True, exist_ok=True)
    (out / "train").mkdir(exist_ok=True)
    top_hop = fcfg.codec.hops[fcfg.codec.levels[0]]
    targets = (teacher_grid(kept, clips, list(cfg.teachers), Path(cfg.teacher_cache or out / "teacher-cache"),
                            sr, top_hop) if cfg.teachers and fcfg.with_priors and not corpus else None)

    def loader(resume_from: Path | None = None, stage2: bool = False) -> DataLoader:
        # crops go on from those the codec has seen (an --init checkpoint's steps, then this run's)
        seen = (offset + (steps_done(resume_from) if resume_from else 0)) * cfg.batch_size
        if corpus:
            from booster.token_corpus import TokenCrops

            crops = TokenCrops(corpus, samples2 // top_hop, cfg.seed, start=seen,
                               pairs=cfg.contrastive_weight > 0)
            return DataLoader(crops, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.loader_workers,
                              persistent_workers=cfg.loader_workers > 0)
        crops = RandomCrops(clips, samples2 if stage2 else samples, cfg.seed, start=seen,
                            targets=targets if stage2 else None, hop=top_hop,
                            pairs=stage2 and cfg.contrastive_weight > 0)
        return DataLoader(crops, batch_size=cfg.batch_size, shuffle=False)

    # without priors (the VQ baseline) stage 1 is the whole run; --stage1-minutes was checked to be > 0
    if not fcfg.with_priors:
        stage1_minutes = cfg.minutes
    else:
        stage1_minutes = cfg.stage1_minutes if cfg.stage1_minutes is not None else cfg.minutes * cfg.stage1_share
    done1 = out / "train" / "stage1.done"
    s1 = Stage1Module(model, lr=cfg.lr, warmup_steps=cfg.warmup_steps, step_offset=offset)
    last1 = out / "train" / "stage1-last.ckpt"
    if skip_stage1:
        if not done1.exists():
            done1.write_text(json.dumps({"steps": 0, "final": {}, "lr_settings": None, "skipped": True}))
    elif not done1.exists():
        trainer1 = _trainer(out, "stage1", stage1_minutes, cfg.checkpoint_every, cfg.lr_schedule, lr_warmup)
        trainer1.fit(s1, loader(last1), ckpt_path=str(last1) if last1.exists() else None)
        trainer1.save_checkpoint(last1)
        final1 = {k: float(v) for k, v in trainer1.callback_metrics.items()}
        done1.write_text(json.dumps({"steps": trainer1.global_step, "final": final1, "lr_settings": {
            "lr": cfg.lr, "lr_schedule": cfg.lr_schedule, "lr_warmup_steps": lr_warmup}}))
    else:
        state = torch.load(last1, map_location="cpu", weights_only=True)
        s1.load_state_dict(state["state_dict"])
    if not skip_stage1:  # a codec taken as it is keeps its calibrated norms
        recalibrate_latent_norms(model, loader(), cfg.recalibration_batches)
    stage1_state = json.loads(done1.read_text())
    steps1, stage1_log = stage1_state["steps"], stage1_state.get("final", {})

    steps2, stage2_log = 0, {}
    if fcfg.with_priors:
        from booster.teachers import head_specs

        s2 = Stage2Module(model, lr=cfg.lr, teachers=[] if cfg.readout_only else head_specs(cfg.teachers),
                          teacher_weight=cfg.teacher_weight, levels=trained_levels, contrastive_weight=cfg.contrastive_weight,
                          teacher_delay=cfg.teacher_delay,
                          readout_teacher=head_specs(cfg.teachers) if cfg.readout or cfg.readout_only else None,
                          readout_weights=list(cfg.readout_weights) or None, train_priors=not cfg.readout_only)
        last2 = out / "train" / "stage2-last.ckpt"
        trainer2 = _trainer(out, "stage2", cfg.minutes - stage1_minutes, cfg.checkpoint_every, cfg.lr_schedule,
                            lr_warmup, cfg.device)
        trainer2.fit(s2, loader(last2, stage2=True), ckpt_path=str(last2) if last2.exists() else None)
        trainer2.save_checkpoint(last2)
        steps2 = trainer2.global_step
        model.cpu()
        if cfg.teachers and not cfg.readout_only:  # features are read where the teacher heads read: recorded
            fcfg.feature_delay = cfg.teacher_delay
        stage2_log = {k: float(v) for k, v in trainer2.callback_metrics.items()}

    summary = {
        "audio_dir": str(audio_dir), "glob": cfg.glob, "files": len(corpus.tokens) if corpus else len(files),
        "clips_used": len(corpus.tokens) if corpus else len(clips), "token_corpus": bool(corpus), "device": cfg.device,
        "device_name": torch.cuda.get_device_name() if cfg.device.startswith("cuda") else None, "hours": round(hours, 3),
        "load_failures": failures, "config": cfg.config, "quantizer": fcfg.codec.quantizer,
        # the LR settings of this invocation; stage 1 may have run under another one's (resumed runs)
        **start, "lr": cfg.lr, "lr_schedule": cfg.lr_schedule, "lr_warmup_steps": lr_warmup,
        "stage1_lr_settings": stage1_state.get("lr_settings"),
        "minutes_budget": cfg.minutes, "stage1_minutes": round(stage1_minutes, 2),
        # steps in all, those of the --init checkpoint included
        "stage1_steps": offset + steps1, "stage2_steps": start.get("init_stage2_steps", 0) + steps2,
        "batch_size": cfg.batch_size, "crop_seconds": samples / sr,
        "wall_minutes_this_run": round((time.time() - t0) / 60, 2),
        "final_stage1": stage1_log, "final_stage2": stage2_log,
        "teachers": list(cfg.teachers), "teacher_weight": cfg.teacher_weight if cfg.teachers else None,
        "teacher_delay": cfg.teacher_delay if cfg.teachers else None,
        "bidirectional_levels": list(fcfg.bidirectional_levels),
        "prior_levels": list(s2.levels if fcfg.with_priors and not cfg.readout_only else ()),
        "readout": fcfg.readout.to_dict() if fcfg.readout else None,
        "readout_teacher": cfg.teachers[0] if cfg.readout or cfg.readout_only else None,  # the first (older cards)
        "readout_teachers": list(cfg.teachers) if cfg.readout or cfg.readout_only else [],
        "readout_weights": list(cfg.readout_weights) or None,
        "contrastive_weight": cfg.contrastive_weight, "stage2_crop_seconds": samples2 / sr,
    }
    fp = save_checkpoint(model, out, extra={"training": {k: summary[k] for k in (
        "hours", "config", "quantizer", "stage1_steps", "stage2_steps", "batch_size", "teachers",
        "contrastive_weight")}})
    summary["fingerprint"] = fp
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
