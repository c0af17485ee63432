"""The ``booster`` command line (the composition root: imports every layer lazily).

Every command exits non-zero with a one-line reason on bad input.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from booster.device import check_device, resolve_precision

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="mfm-booster: music foundation model features as a booster for other models.")
data_app = typer.Typer(no_args_is_help=True, help="Make and inspect datasets.")
app.add_typer(data_app, name="data")
console = Console(stderr=True)


def fail(message: str) -> None:
    """Print a one-line reason and exit with status 2."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@data_app.command("render")
def data_render(
    out: Path = typer.Argument(..., help="Output folder (Slakh2100 layout)."),
    tracks: int = typer.Option(4, "--tracks", help="Number of tracks."),
    seconds: float = typer.Option(8.0, "--seconds", help="Length of each track in seconds."),
    source: str = typer.Option("procedural", "--source", help="procedural | music21"),
    synth: str = typer.Option("basic", "--synth", help="basic | fluidsynth"),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives identical files."),
    sample_rate: int = typer.Option(22050, "--sample-rate", help="Sample rate of the rendered audio."),
    start_index: int = typer.Option(1, "--start-index", help="Number of the first track (to extend a corpus)."),
    ensemble: str = typer.Option("", "--ensemble", help="music21 only: one ensemble for all tracks (e.g. piano)."),
    soundfont: str = typer.Option("", "--soundfont", help="fluidsynth only: 'timgm6mb' (default) or an .sf2 path "
                                  "(e.g. FluidR3_GM from 'booster data fetch-soundfont')."),
    effects: bool = typer.Option(False, "--effects/--dry", help="Production effects on the mix (EQ, compression, "
                                 "reverb...); stems stay dry, so the mix is no longer their sum."),
) -> None:
    """Render multi-stem music with perfect labels (stems, MIDI, tags, mixing parameters)."""
    from downstream.data.render import RenderConfig, render_corpus

    cfg = RenderConfig(tracks, seconds, source, synth, seed, sample_rate, start_index, ensemble, soundfont, effects)
    try:
        cfg.validate()
    except ValueError as err:
        fail(str(err))
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder")
    t0 = time.perf_counter()
    with Progress(TextColumn("[bold]render"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("render", total=tracks)
        rows = render_corpus(out, cfg, progress=lambda i, row: bar.advance(task))
    wall = time.perf_counter() - t0
    table = Table(title=f"{len(rows)} tracks in {out}")
    for col in ("track", "stems", "notes", "tempo", "key", "tags"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["track"], str(r["stems"]), str(r["notes"]), f"{r['tempo']:.0f}", r["key"],
                      ", ".join(r["tags"]))
    Console().print(table)
    audio_s = tracks * seconds
    Console().print(f"rendered {audio_s:.0f} s of audio in {wall:.1f} s ({audio_s / wall:.1f}x realtime), "
                    f"source={source}, synth={synth}")


@data_app.command("fetch-music")
def data_fetch_music(
    out: Path = typer.Argument(..., help="Folder to unpack the packages into."),
    packages: str = typer.Option("", "--packages",
                                 help="Comma-separated Debian packages (default: the pretraining set)."),
) -> None:
    """Fetch real recorded music from Debian's game-music packages (apt-get download + dpkg -x, no
    system install) and write OUT/manifest.json with each file's package, licence and duration."""
    from downstream.data.debian_music import PRETRAIN_PACKAGES, RecipeError, obtain, prepare

    names = tuple(_parse_list(packages, str, "--packages")) or PRETRAIN_PACKAGES
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder")
    try:
        obtain(out, names, say=lambda m: console.print(m, highlight=False))
        manifest = prepare(out, say=lambda m: console.print(m, highlight=False))
    except RecipeError as err:
        fail(str(err))
    table = Table(title=f"{manifest['hours']:.2f} h of recorded music in {out}")
    for col in ("package", "version", "files", "hours", "licence"):
        table.add_column(col)
    for pkg, info in manifest["packages"].items():
        table.add_row(pkg, info["version"], str(info["files"]), f"{info['seconds'] / 3600:.2f}", info["licence"])
    Console().print(table)


@data_app.command("tokenize")
def data_tokenize(
    out: Path = typer.Argument(..., help="Token corpus folder to write (a rerun goes on from what is done)."),
    sources: list[str] = typer.Argument(..., help="Audio folders or files; 'FOLDER:GLOB' keeps the files the "
                                        "glob matches, e.g. 'corpus:*/*/mix.flac' for the mixes of a render; "
                                        "'@HOURS' at the end takes a random subset of about that many hours."),
    model: Path = typer.Option(None, "--model", help="Checkpoint whose codec makes the tokens (default: bundled)."),
    levels: str = typer.Option("top,mid", "--levels", help="Levels to keep (the priors stage 2 will train)."),
    teachers: str = typer.Option("", "--teachers", help="Teacher targets to add, e.g. basic-pitch-notes."),
    teacher_cache: Path = typer.Option(None, "--teacher-cache", help="Where teacher targets are cached "
                                       "(default: OUT/teacher-cache)."),
    max_hours: float = typer.Option(0.0, "--max-hours", help="Keep a random subset of about this many hours "
                                    "of each source without its own @HOURS (0 = all)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --max-hours subset."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = torch's default)."),
    tokens_from: Path = typer.Option(None, "--tokens-from", help="A finished corpus of the same codec: the files "
                                     "it holds are not encoded again (their tokens are copied), e.g. to pair the "
                                     "same audio with other teachers."),
) -> None:
    """Encode audio into a token corpus for stage 2 (tokens + teacher targets, ~3 MB per hour): what
    'booster pretrain CORPUS --init CKPT --stage1-minutes 0 [--device cuda]' trains on."""
    import random

    import torch

    from booster.audio import AudioError, find_audio, probe
    from booster.checkpoint import CheckpointError
    from booster.extract import Booster
    from booster.teachers import TeacherUnavailable
    from booster.token_corpus import build_token_corpus

    if threads:
        torch.set_num_threads(threads)
    files: list[Path] = []
    for source in sources:
        hours = max_hours
        head, at, tail = source.rpartition("@")
        if at:
            try:
                source, hours = head, float(tail)
            except ValueError:
                fail(f"{source}: '@{tail}' is not a number of hours (FOLDER[:GLOB][@HOURS])")
        folder, _, pattern = source.partition(":")
        if not Path(folder).exists():
            fail(f"{folder}: not found")
        found = find_audio(folder, pattern or None)
        if not found:
            fail(f"{source}: no audio files found")
        if hours > 0:
            random.Random(seed).shuffle(found)
            chosen, total = [], 0.0
            for f in found:
                if total >= hours * 3600:
                    break
                try:
                    total += probe(f).duration
                except AudioError:
                    pass  # an unreadable file is recorded as a failure by the build
                chosen.append(f)
            found = sorted(chosen)
        files += found
    try:
        booster = Booster.from_pretrained(model)
        with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("tokenizing", total=len(files))
            manifest = build_token_corpus(files, out, booster, tuple(_parse_list(levels, str, "--levels")),
                                          tuple(_parse_list(teachers, str, "--teachers")), teacher_cache,
                                          progress=lambda f: bar.advance(task), tokens_from=tokens_from)
    except (ValueError, CheckpointError, TeacherUnavailable) as err:
        fail(str(err))
    size = (out / "tokens.npz").stat().st_size
    console.print(f"{len(manifest['files'])} files, {manifest['hours']:.2f} h -> {out / 'tokens.npz'} "
                  f"({size / 1e6:.1f} MB, {size / 1e6 / max(manifest['hours'], 1e-9):.1f} MB/h); "
                  f"{len(manifest['failures'])} failures", highlight=False)


@data_app.command("fetch-soundfont")
def data_fetch_soundfont(
    out: Path = typer.Argument(Path("build/soundfonts"), help="Folder to unpack the SoundFont package into."),
    package: str = typer.Option("fluid-soundfont-gm", "--package", help="Debian SoundFont package."),
) -> None:
    """Fetch a General MIDI SoundFont from Debian (apt-get download + dpkg -x, no system install) and
    print its path for 'booster data render --soundfont'."""
    from downstream.data.debian_music import RecipeError, obtain

    try:
        (pkg_dir,) = obtain(out, (package,), say=lambda m: console.print(m, highlight=False), evaluation=True)
    except RecipeError as err:
        fail(str(err))
    fonts = sorted(pkg_dir.rglob("*.sf2")) + sorted(pkg_dir.rglob("*.sf3"))
    if not fonts:
        fail(f"{package} holds no SoundFont")
    if "musescore" in package:
        console.print(f"{package} is reserved for evaluation: never render pretraining data with it")
    for f in fonts:
        Console().print(str(f), highlight=False)


@app.command("pretrain")
def pretrain_cmd(
    audio_dir: Path = typer.Argument(..., help="Folder of audio (searched recursively) to train on, or a token "
                                     "corpus from 'booster data tokenize' (stage 2 only)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write (resumes if it holds a run)."),
    config: str = typer.Option("tiny", "--config", help="Model size: tiny | micro."),
    minutes: float = typer.Option(30.0, "--minutes", help="Wall-clock budget for both stages."),
    stage1_minutes: float = typer.Option(-1.0, "--stage1-minutes",
                                         help="Minutes of stage 1 (default: 70% of --minutes); stage 2 gets the rest. "
                                         "0 with --init trains the priors of that checkpoint's codec only."),
    batch_size: int = typer.Option(8, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = torch's default)."),
    quantizer: str = typer.Option("", "--quantizer", help="'vq' trains the VQ baseline codec (stage 1 only)."),
    warmup_steps: int = typer.Option(100, "--warmup-steps", help="Unquantized steps before codebook init."),
    glob: str = typer.Option("", "--glob", help="Only files matching this pattern under AUDIO_DIR, "
                             "e.g. '*/*/mix.flac' for the mixes of rendered corpora (default: all audio)."),
    init: Path = typer.Option(None, "--init", help="Start from this checkpoint folder's weights and config "
                              "(e.g. booster/weights/default) instead of a fresh model; optimizers start afresh."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate (the peak, with --lr-schedule cosine)."),
    lr_schedule: str = typer.Option("constant", "--lr-schedule",
                                    help="constant | cosine (to 0 over each stage's minutes)."),
    lr_warmup_steps: int = typer.Option(-1, "--lr-warmup-steps",
                                        help="Linear LR warm-up of the cosine, in steps of each stage "
                                        "(default: 200 with --init, else 0)."),
    teachers: str = typer.Option("", "--teachers", help="Stage-2 teacher targets, comma-separated: basic-pitch, "
                                 "basic-pitch-notes, cqt, chroma, key, tempo, musicnn, musicnn-embedding, musicnn-embedding-1s (computed once per file and cached)."),
    teacher_weight: float = typer.Option(1.0, "--teacher-weight", help="Weight of each teacher loss."),
    bidirectional_levels: str = typer.Option("", "--bidirectional-levels", help="Make these priors bidirectional "
                                             "masked-token models, e.g. top,mid (their features then read right "
                                             "context too)."),
    teacher_delay: int = typer.Option(0, "--teacher-delay", help="Top-level frames of right context the teacher "
                                      "heads read: frame t is predicted from the state at t + delay."),
    readout: bool = typer.Option(False, "--readout", help="Stage 2 also trains a bidirectional readout stack over "
                                 "the top and mid priors on every teacher's targets, side by side in its head (features readout.layerN, "
                                 "readout.head); a readout trained on the first teachers is widened for the rest."),
    readout_only: bool = typer.Option(False, "--readout-only", help="Like --readout, with the priors frozen: "
                                      "only the readout trains."),
    readout_weights: str = typer.Option("", "--readout-weights", help="Weight of each readout teacher's loss, in "
                                        "--teachers order, e.g. 1,0.25 (default 1 each)."),
    contrastive_weight: float = typer.Option(0.0, "--contrastive-weight", help="Stage 2: weight of an InfoNCE "
                                             "loss between two crops of one file (0 = off)."),
    stage2_crop_seconds: float = typer.Option(0.0, "--stage2-crop-seconds", help="Stage-2 crop length "
                                              "(default: the stage-1 crop, 0.75 s)."),
    prior_levels: str = typer.Option("", "--prior-levels", help="Priors stage 2 trains, e.g. top,mid "
                                     "(default: all); the others keep their weights."),
    teacher_cache: Path = typer.Option(None, "--teacher-cache", help="Where teacher targets are kept "
                                       "(default: OUT/teacher-cache); share it between runs on the same audio."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda (the checkpoint is saved for CPU either way)."),
    loader_workers: int = typer.Option(0, "--loader-workers", help="DataLoader worker processes."),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every", help="Steps between resumable checkpoints."),
    fresh_priors: bool = typer.Option(False, "--fresh-priors", help="With --init: the priors this run trains start "
                                      "from fresh weights (the codec and readout are kept)."),
) -> None:
    """Train stage 1 (HQ-VAE) then stage 2 (sparse transformers) within --minutes; resumable."""
    from booster.pretrain import PretrainConfig, pretrain
    from booster.teachers import TeacherUnavailable

    if not audio_dir.exists():
        fail(f"{audio_dir}: not found")
    if quantizer not in ("", "sq", "vq"):
        fail(f"--quantizer must be sq or vq (got {quantizer!r})")
    cfg = PretrainConfig(config=config, minutes=minutes, stage1_minutes=stage1_minutes if stage1_minutes >= 0 else None,
                         batch_size=batch_size, seed=seed, threads=threads or None, quantizer=quantizer or None,
                         warmup_steps=warmup_steps, glob=glob or None, init=str(init) if init else None, lr=lr,
                         lr_schedule=lr_schedule, lr_warmup_steps=lr_warmup_steps if lr_warmup_steps >= 0 else None,
                         teachers=tuple(_parse_list(teachers, str, "--teachers")), teacher_weight=teacher_weight,
                         teacher_delay=teacher_delay,
                         bidirectional_levels=tuple(_parse_list(bidirectional_levels, str, "--bidirectional-levels")),
                         teacher_cache=str(teacher_cache) if teacher_cache else None,
                         prior_levels=tuple(_parse_list(prior_levels, str, "--prior-levels")),
                         contrastive_weight=contrastive_weight, stage2_crop_seconds=stage2_crop_seconds or None,
                         device=device, loader_workers=loader_workers, checkpoint_every=checkpoint_every,
                         readout=readout, readout_only=readout_only, fresh_priors=fresh_priors,
                         readout_weights=tuple(_parse_list(readout_weights, float, "--readout-weights")))
    try:  # pretrain() checks --device itself (check_device), before it writes anything
        summary = pretrain(audio_dir, out, cfg)
    except (ValueError, TeacherUnavailable) as err:
        fail(str(err))
    table = Table(title=f"checkpoint {out}")
    table.add_column("key")
    table.add_column("value")
    for key in ("hours", "clips_used", "stage1_steps", "stage2_steps", "wall_minutes_this_run", "fingerprint"):
        table.add_row(key, str(summary[key]))
    for key, value in sorted(summary["final_stage1"].items()) + sorted(summary["final_stage2"].items()):
        table.add_row(key, f"{value:.4g}")
    Console().print(table)


@app.command("bench")
def bench_cmd(
    what: str = typer.Argument("all", help="model | extract | store | separation | probe | all"),
    model: Path = typer.Option(None, "--model", help="Checkpoint (default: the bundled one)."),
    baseline: Path = typer.Option(None, "--baseline", help="VQ baseline checkpoint (default: bundled)."),
    out: Path = typer.Option(None, "--out", help="Write the figures as JSON here."),
    audio_dir: Path = typer.Option(None, "--audio", help="store: cache these recordings (e.g. build/music/audio) "
                                   "instead of renders made 44.1 kHz stereo."),
    audio_files: int = typer.Option(8, "--audio-files", help="store: files taken from --audio (sorted)."),
) -> None:
    """Benchmarks, each against a baseline measured in the same run (ratios, not absolute times)."""
    import tempfile

    from benchmarks.model import bench_model, print_model_report
    from benchmarks.pipeline import bench_extract, held_out_mix
    from booster.checkpoint import BASELINE_CHECKPOINT, DEFAULT_CHECKPOINT, CheckpointError

    if what not in ("model", "extract", "store", "separation", "probe", "all"):
        fail(f"unknown benchmark {what!r}; choose model, extract, store, separation, probe or all")
    con, report = Console(), {}
    try:
        if what in ("model", "all"):
            report["model"] = bench_model(model or DEFAULT_CHECKPOINT, baseline or BASELINE_CHECKPOINT)
            print_model_report(report["model"], con)
        if what in ("extract", "all"):
            audio, sr = held_out_mix(10.0)
            r = report["extract"] = bench_extract(audio, sr, model)
            table = Table(title=f"extraction speed, x realtime on {r['audio_seconds']:.0f} s ({r['threads']} threads)")
            for c in ("model", "x realtime", "ratio to booster full"):
                table.add_column(c)
            for key in ("booster_tokens", "booster_default", "booster_default_auto", "booster_full", "encodec_24k",
                        "hubert_base"):
                if isinstance(r.get(key), float):
                    label = f"booster_default ({r['auto_precision']} priors)" if key.endswith("_auto") else key
                    table.add_row(label, f"{r[key]:.1f}", f"{r[key] / r['booster_full']:.2f}")
            con.print(table)
            default = r.get("booster_default_auto", r["booster_default"])  # at `booster cache`'s default precision
            if "booster_default_auto" in r:
                con.print(f"{r['auto_precision']} priors: {r['booster_default_auto'] / r['booster_default']:.2f}x the "
                          f"float32 speed; tokens {'all equal' if r['auto_tokens_equal'] else 'NOT all equal'}, "
                          f"features within {100 * r['auto_max_rel_l2']:.2f}% relative L2")
            if isinstance(r.get("hubert_base"), float):
                con.print(f"default features (what `booster cache` stores) = {default:.1f}x realtime = "
                          f"{default / r['hubert_base']:.1f}x HuBERT-base (targets: >= 100x, >= 10x)")
            con.print(f"{r['clips']} clips of 2 s, full features: one by one {r['booster_full_clips_one_by_one']:.1f}x "
                      f"realtime, extract_batch {r['booster_full_clips_batched']:.1f}x -> "
                      f"{r['booster_full_clips_batched'] / r['booster_full_clips_one_by_one']:.2f}x")
            con.print(f"HEAR module (booster.hear) on 16 clips of 4 s: {r['hear_vs_extract_batch']:.2f}x the speed of "
                      "extract_batch on the same clips and features")
        if what in ("store", "all"):
            from benchmarks.pipeline import bench_cache, bench_files
            from booster.audio import find_audio

            with tempfile.TemporaryDirectory() as tmp:
                files = sorted(find_audio(audio_dir))[:audio_files] if audio_dir else bench_files(Path(tmp))
                if not files:
                    fail(f"{audio_dir}: no audio files")
                r = report["store"] = bench_cache(files, model)
            src = f"{audio_dir} ({len(files)} files)" if audio_dir else f"{len(files)} renders as 44.1 kHz stereo FLAC"
            table = Table(title=f"booster cache, {r['audio_seconds'] / 60:.1f} min of {src}, {r['workers']} workers")
            for c in ("what", "x realtime", "MB per audio hour"):
                table.add_column(c)
            table.add_row("decode + resample only (baseline)", f"{r['decode_x_realtime']:.1f}",
                          f"{r['source_mb_per_hour']:.0f} (source files)")
            for k, label in (("default", f"default store (coarsest rate, zstd, bf16 values; {r['default_precision']} "
                                         "priors)"),
                             ("default_float32", "the same with float32 priors"), ("tokens", "tokens-only store"),
                             ("native_raw", "native rates, raw float16 (old default)")):
                if f"cache_{k}_x_realtime" in r:
                    table.add_row(label, f"{r[f'cache_{k}_x_realtime']:.1f}", f"{r[f'{k}_mb_per_hour']:.0f}")
            con.print(table)
            con.print(f"cache (default) = {r['cache_vs_decode']:.2f}x the decode-only speed; default store = "
                      f"{r['default_mb_per_hour'] / r['native_raw_mb_per_hour']:.2f}x the old default's size "
                      f"(targets: >= 40x realtime, <= 500 MB/h default, <= 50 MB/h tokens)")
            for order, label in (("random", "random 1 s windows"), ("in_order", "1 s windows, each track in turn")):
                con.print(f"reads of {r['feature_read']}, {label}: default store {r[f'reads_{order}_default_per_s']:.0f}/s "
                          f"({100 * r[f'reads_{order}_default_vs_npy']:.0f}% of .npy), raw chunks "
                          f"{r[f'reads_{order}_raw_per_s']:.0f}/s ({100 * r[f'reads_{order}_raw_vs_npy']:.0f}%), "
                          f"memory-mapped .npy {r[f'reads_{order}_npy_per_s']:.0f}/s (target >= 50%)")
        if what in ("separation", "all"):
            from benchmarks.separation import bench_separation

            audio, sr = held_out_mix(10.0, mono=False)
            r = report["separation"] = bench_separation(audio, sr, model)
            con.print(f"separation (HTDemucs CPU config, {r['audio_seconds']:.0f} s stereo): plain "
                      f"{r['plain_x_realtime']:.1f}x realtime, boosted incl. feature extraction "
                      f"{r['boosted_x_realtime']:.1f}x -> boosted runs at {r['boosted_vs_plain']:.2f}x the plain speed")
        if what in ("probe", "all"):
            from downstream.probe import checks_table, probe_checkpoint, report_table

            r = report["probe"] = probe_checkpoint(model or DEFAULT_CHECKPOINT,
                                                   say=lambda m: console.print(m, highlight=False))
            con.print(report_table(r, "linear probes (booster probe): booster vs spectrograms and random weights"))
            con.print(checks_table(r))
    except CheckpointError as err:
        fail(str(err))
    if out:
        out.write_text(json.dumps(report, indent=2, default=float) + "\n")


@app.command("probe")
def probe_cmd(
    model: Path = typer.Option(None, "--model", help="Checkpoint folder (default: the bundled model)."),
    out: Path = typer.Option(None, "--out", help="Write the results as JSON here."),
    markdown: Path = typer.Option(None, "--markdown", help="Write the tables as markdown here."),
    work_dir: Path = typer.Option(Path("build/probe"), "--work-dir",
                                  help="Probe set renders, random-weights control and feature caches."),
    tracks: int = typer.Option(60, "--tracks-per-subset", help="Tracks per source x synth subset."),
    seconds: float = typer.Option(10.0, "--seconds", help="Seconds per probe track."),
    synths: str = typer.Option("basic,fluidsynth", "--synths", help="Synths of the probe set (comma-separated)."),
    features: str = typer.Option("", "--features", help="Features to probe (default: every top and mid feature)."),
    test_tracks: int = typer.Option(80, "--test-tracks", help="Fixed test tracks."),
    val_tracks: int = typer.Option(40, "--val-tracks", help="Validation tracks (frame thresholds)."),
    tag_sizes: str = typer.Option("24,120", "--tag-sizes", help="Labelled tracks of the tag probes."),
    tag_repeats: int = typer.Option(5, "--tag-repeats", help="Random labelled subsets per size."),
    random_seed: int = typer.Option(0, "--random-seed", help="Seed of the random-weights control."),
    tag_c: str = typer.Option("1", "--tag-c", help="The tag regressions' inverse L2 strength, or 'cv': chosen "
                              "per labelled subset by cross-validation inside it (slower)."),
    references: str = typer.Option("", "--references", help="Teachers to probe as references too "
                                   "(basic-pitch, cqt, chroma): what their targets could give at best."),
) -> None:
    """Linear probes (tags, pitch, onsets, instruments) of a checkpoint's features against spectrograms
    and the same architecture at random weights, on a held-out probe set of renders."""
    from booster.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, read_config
    from downstream.data.render import SOURCES
    from downstream.data.synth import SYNTHS, fluidsynth_available
    from downstream.probe import (
        ProbeConfig,
        ProbeSetConfig,
        checks_table,
        probe_checkpoint,
        report_table,
        write_markdown,
    )

    model = model or DEFAULT_CHECKPOINT
    try:
        read_config(model)
    except CheckpointError as err:
        fail(str(err))
    synth_list = _parse_list(synths, str, "--synths")
    if any(s not in SYNTHS for s in synth_list):
        fail(f"--synths must be among {', '.join(SYNTHS)} (got {synths!r})")
    if "fluidsynth" in synth_list and not fluidsynth_available()[0]:
        fail(fluidsynth_available()[1] + " (or probe with --synths basic)")
    sizes = _parse_list(tag_sizes, int, "--tag-sizes")
    if tracks < 1 or seconds <= 0 or tag_repeats < 1 or min(sizes) < 2:
        fail("--tracks-per-subset, --seconds and --tag-repeats must be positive and --tag-sizes >= 2")
    try:
        c_value = None if tag_c.strip().lower() == "cv" else float(tag_c)
    except ValueError:
        c_value = -1.0
    if c_value is not None and not c_value > 0:
        fail(f"--tag-c must be a positive number or 'cv' (got {tag_c!r})")
    set_cfg = ProbeSetConfig(tracks, seconds, subsets=tuple((src, s) for src in SOURCES for s in synth_list),
                             test_tracks=test_tracks, val_tracks=val_tracks)
    n_tracks = tracks * len(set_cfg.subsets)
    if n_tracks - test_tracks - val_tracks < max(sizes) - val_tracks or n_tracks <= test_tracks + val_tracks:
        fail(f"{n_tracks} probe tracks cannot hold {test_tracks} test + {val_tracks} validation tracks and "
             f"{max(sizes)} labelled ones; raise --tracks-per-subset or lower --test-tracks / --tag-sizes")
    cfg = ProbeConfig(tag_sizes=tuple(sizes), tag_repeats=tag_repeats, tag_c=c_value)
    names = _parse_list(features, str, "--features") if features.strip() else None
    refs = _parse_list(references, str, "--references")
    from booster.teachers import TEACHERS, TeacherUnavailable

    if any(r not in TEACHERS for r in refs):
        fail(f"--references must be among {', '.join(TEACHERS)} (got {references!r})")
    con = Console()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"extract {stage}", total=total)
            bar.update(tasks[stage], completed=done)

        try:
            results = probe_checkpoint(model, work_dir, set_cfg, cfg, names, random_seed, refs,
                                       say=lambda m: console.print(m, highlight=False), progress=progress)
        except (CheckpointError, ValueError, TeacherUnavailable) as err:
            fail(str(err))
    title = f"linear probes of {model} ({results['probe_set']['tracks']} tracks, test {test_tracks})"
    con.print(report_table(results, title))
    if results["checks"]:
        con.print(checks_table(results))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        write_markdown(results, markdown, title)


def resolve_inputs(path: Path) -> list:
    """Tracks to cache from a file, a dataset folder in a known layout, or any folder of audio."""
    from booster.audio import find_audio
    from downstream.data.layouts import detect_layout, open_dataset
    from feature_store.cache import CacheItem

    if path.is_file():
        return [CacheItem(path.stem, str(path))]
    layout = detect_layout(path)
    if layout is not None:
        return [CacheItem(r.track_id, str(r.mix_path)) for r in open_dataset(path, layout)]
    return [CacheItem(str(f.relative_to(path).with_suffix("")), str(f)) for f in find_audio(path)]


@app.command("cache")
def cache_cmd(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Audio file, folder, or dataset folder."),
    out: Path = typer.Option(..., "-o", "--out", help="Feature store (.zarr) to create or resume."),
    model: Path = typer.Option(None, "--model", help="Checkpoint folder (default: the bundled model)."),
    features: str = typer.Option("", "--features", help="Comma-separated names and presets: default (every "
                                 "level's tokens + the top and mid prior layers the downstream tasks read), all, "
                                 "tokens. Default: default (a resumed store keeps its own)."),
    workers: int = typer.Option(1, "--workers", help="Local worker processes."),
    scheduler: str = typer.Option("", "--scheduler", help="Dask scheduler address (runs on that cluster), or "
                                  "slurm:JOBS to start a SLURM cluster of JOBS jobs for this run (dask-jobqueue; "
                                  "site settings from its jobqueue.slurm config; docs/feature-store.md)."),
    shard_size: int = typer.Option(8, "--shard-size", help="Tracks per unit of work at most; with several "
                                   "workers, units also hold at most a quarter of a worker's share of the audio."),
    allow_mismatch: bool = typer.Option(False, "--allow-mismatch", help="Add to a store of another model."),
    rate: str = typer.Option("coarsest", "--rate", help="Frame rate of stored features: coarsest (finer levels' "
                             "frames averaged in groups of 2^k down to the coarsest level's rate, ~172 fps: "
                             "what every downstream task at <= 172 fps reads), native, or a number of frames/s "
                             "(the lowest rate >= it). Tokens keep their own rate."),
    keep_bits: int = typer.Option(7, "--keep-bits", help="Mantissa bits kept of float16's 10: 7 is bfloat16's "
                                  "precision (relative error <= 0.4%); 10 is lossless float16."),
    compression: str = typer.Option("zstd", "--compression", help="zstd (Blosc, byte-shuffled) or none (raw "
                                    "chunks: larger, fastest reads)."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N (the workers' device)."),
    precision: str = typer.Option("auto", "--precision", help="The priors' compute precision: float32 (exact), "
                                  "bfloat16 (with native bfloat16 the priors run about 2x faster, a whole cache 1.15x; "
                                  "tokens unchanged, features within 0.44% relative L2), or auto: bfloat16 where the CPU (AMX, AVX512-BF16) or "
                                  "GPU computes it natively, else float32. A store keeps the precision it was "
                                  "made with."),
) -> None:
    """Precompute booster features for every track into a Zarr store (resumable, parallel)."""
    from rich.progress import TaskProgressColumn

    from booster.audio import AudioError, probe
    from booster.checkpoint import CheckpointError
    from feature_store.cache import RATES, run_cache
    from feature_store.store import Compression, FeatureStore, StoreError

    if not input_path.exists():
        fail(f"{input_path}: not found")
    if workers < 1 or shard_size < 1:
        fail("--workers and --shard-size must be >= 1")
    if rate not in RATES:
        try:
            rate = float(rate)
        except ValueError:
            fail(f"--rate {rate!r}: give {' or '.join(RATES)}, or a number of frames per second")
    try:
        codec = Compression(compression, 3, keep_bits)
    except ValueError as err:
        fail(str(err))
    try:
        check_device(device, "cache with --device cpu")
        resolve_precision(precision, device)
    except ValueError as err:
        fail(str(err))
    items = resolve_inputs(input_path)
    if not items:
        fail(f"{input_path}: no audio files found")
    names = [n.strip() for n in features.split(",") if n.strip()] or None

    def seconds_of(path: str) -> float:
        try:
            return probe(path).duration
        except AudioError:
            return 0.0  # fails fast in the run, and is reported there

    try:  # a resumed store: only the missing tracks are work
        done_ids = set(FeatureStore.open(out).tracks()) if (out / "zarr.json").exists() else set()
    except StoreError as err:
        fail(str(err))
    total = sum(seconds_of(i.path) for i in items if i.track_id not in done_ids)
    with Progress(TextColumn("[bold]cache"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[done]}"),
                  TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("cache", total=max(total, 1e-9), done=f"0/{len(items)} tracks", speed="")
        t0, tracks = time.perf_counter(), [0]

        def show_speed() -> None:  # audio seconds done per wall second
            done = bar.tasks[0].completed
            bar.update(task, speed=f"{done / max(time.perf_counter() - t0, 1e-6):.1f} audio-s/s")

        def on_window(seconds: float) -> None:
            bar.update(task, advance=seconds)
            show_speed()

        def on_result(result) -> None:
            tracks[0] += 1
            if scheduler:  # a Dask cluster reports per track
                bar.update(task, advance=result.seconds)
            bar.update(task, done=f"{tracks[0]}/{len(items)} tracks")
            show_speed()

        try:
            report = run_cache(items, out, model, names, workers, scheduler or None, shard_size, allow_mismatch,
                               on_result=on_result, rate=rate, compression=codec, on_progress=on_window,
                               device=device, precision=precision)
        except (CheckpointError, StoreError, ValueError) as err:
            fail(str(err))
        bar.update(task, completed=max(total, 1e-9))
    speed = report["audio_seconds"] / max(report["wall_seconds"], 1e-9)
    Console().print(f"cached {report['done']} tracks ({report['audio_seconds']:.0f} s of audio, {speed:.1f}x "
                    f"realtime), skipped {report['skipped']} already complete, {len(report['failed'])} failed")
    for track, reason in report["failed"].items():
        Console().print(f"  [red]failed[/] {track}: {reason}", highlight=False, soft_wrap=True)
    if report["failed"]:
        raise typer.Exit(1)


def _store_preset(fs) -> str | None:
    """The ``--features`` preset a store's features match, read from the model config the store holds."""
    from booster.extract import Booster
    from feature_store.cache import preset_of
    from hqvae.foundation import FoundationConfig, FoundationModel

    try:
        booster = Booster(FoundationModel(FoundationConfig.from_dict(fs.model_config)))
    except (KeyError, TypeError, ValueError):
        return None  # a store written without its model's config
    return preset_of(booster, fs.feature_names())


@app.command("info")
def info_cmd(
    store: Path = typer.Argument(..., help="Feature store (.zarr)."),
    stats: str = typer.Option("", "--stats", help="Also print statistics of this feature over all tracks."),
) -> None:
    """Model, features, tracks, hours and failures of a feature store."""
    from feature_store.store import FeatureStore, StoreError

    try:
        fs = FeatureStore.open(store)
    except StoreError as err:
        fail(str(err))
    s = fs.summary()
    con = Console()
    size = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
    per_hour = f", {size / 1e6 / s['hours']:.0f} MB per audio hour" if s["hours"] > 0 else ""
    con.print(f"store {s['path']}\nmodel {s['fingerprint']}\ntracks {s['tracks']}, {s['hours']:.3f} h, "
              f"{len(s['failures'])} failed\nsize {size / 1e6:.1f} MB on disk{per_hour}")
    preset = _store_preset(fs)
    con.print(f"features: preset {preset!r}" if preset else "features: a custom selection (no preset)")
    table = Table(title="features")
    for c in ("name", "frames/s", "dim", "dtype"):
        table.add_column(c)
    for spec in fs.specs.values():
        rate = f"{spec.frame_rate:.2f}" + (f" (mean of {spec.pool})" if spec.pool > 1 else "")
        table.add_row(spec.name, rate, str(spec.dim) if spec.dim else "tokens", spec.dtype)
    con.print(table)
    c = fs.compression
    con.print(f"chunks: {'raw' if c.codec == 'none' else f'{c.codec} level {c.level}'}, float16 with "
              f"{c.keep_bits} of 10 mantissa bits" + (" (lossless)" if c.keep_bits == 10 else ""))
    con.print(f"features computed with the priors in {fs.precision}")
    for track, reason in s["failures"].items():
        con.print(f"  [red]failed[/] {track}: {reason}", highlight=False, soft_wrap=True)
    if stats:
        import numpy as np

        if stats not in fs.specs:
            fail(f"{store}: no feature {stats!r}; it holds {', '.join(fs.specs)}")
        data = [fs.read(t, stats) for t in fs.tracks()]
        if not data:
            fail(f"{store}: no complete tracks to summarise")
        x = np.concatenate(data, axis=0)
        if fs.specs[stats].is_tokens:
            counts = np.bincount(x)
            p = counts[counts > 0] / counts.sum()
            con.print(f"{stats}: {len(x)} frames, {int((counts > 0).sum())} distinct tokens, "
                      f"perplexity {float(np.exp(-(p * np.log(p)).sum())):.1f}")
        else:
            con.print(f"{stats}: {x.shape[0]} frames x {x.shape[1]} dims, mean {x.mean():.4f}, std {x.std():.4f}, "
                      f"min {x.min():.4f}, max {x.max():.4f}, mean per-dim std {x.std(axis=0).mean():.4f}")


experiment_app = typer.Typer(no_args_is_help=True, help="Experiments that measure the boost.")
app.add_typer(experiment_app, name="experiment")
TASK_HELP = "tagging | transcription | separation | mixing"


def _parse_list(text: str, kind, option: str) -> list:
    try:
        return [kind(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"{option}: expected a comma-separated list of numbers, got {text!r}")


def _train_config(max_steps: int, batch_size: int, lr: float, max_minutes: float = 15.0, patience: int = 6):
    from downstream.train import TrainConfig

    if max_steps < 0 or batch_size < 1 or lr <= 0 or max_minutes <= 0 or patience < 1:
        fail("--max-steps must be >= 0, --batch-size and --patience >= 1, --lr and --max-minutes > 0")
    return TrainConfig(max_steps=max_steps or 10**6, max_minutes=max_minutes, batch_size=batch_size, lr=lr,
                       patience=patience)


def _check_data(data: Path) -> None:
    from downstream.data.layouts import detect_layout

    if not data.is_dir():
        fail(f"{data}: not a folder")
    if detect_layout(data) is None:
        fail(f"{data}: not a dataset in a known layout (slakh/render, musdb, maestro, mtat)")


@app.command("finetune")
def finetune_cmd(
    task: str = typer.Argument(..., help=TASK_HELP),
    data: Path = typer.Option(..., "--data", help="Dataset folder in a known layout."),
    store: Path = typer.Option(None, "--store", help="Feature store of the booster (else extracted and cached)."),
    boost: bool = typer.Option(True, "--boost/--no-boost", help="With booster features, or the plain baseline."),
    fraction: float = typer.Option(1.0, "--fraction", help="Fraction of the labelled training tracks to use."),
    seed: int = typer.Option(0, "--seed", help="Seed of the subset and of the model."),
    out: Path = typer.Option(Path("finetune-out"), "--out", help="Output folder (inputs cache, result JSON)."),
    model: Path = typer.Option(None, "--model", help="Booster checkpoint (default: bundled)."),
    features: str = typer.Option("", "--features", help="Booster features (default: the task's)."),
    max_steps: int = typer.Option(0, "--max-steps", help="Hard step cap (0 = none: patience and --max-minutes stop it)."),
    max_minutes: float = typer.Option(15.0, "--max-minutes", help="Wall-clock cap per cell (a cell that reaches "
                                      "it is reported as not converged)."),
    patience: int = typer.Option(6, "--patience", help="Validations without improvement before a cell stops."),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(2e-3, "--lr"),
) -> None:
    """Train one downstream model (baseline or boosted) and score it on the test split."""
    from downstream.experiment import ExperimentConfig, prepare, run_cell

    _check_data(data)
    variant = "boosted" if boost else "baseline"
    cfg = ExperimentConfig(task, data, out, [fraction], 1, [variant], _parse_list(features, str, "--features") or None,
                           store, model, 1, _train_config(max_steps, batch_size, lr, max_minutes, patience))
    try:
        cfg.validate()
        prepare(cfg, progress=lambda msg: console.print(f"[dim]{msg}[/]"))
        row = run_cell(str(out), task, str(data), fraction, seed, variant, vars(cfg.train))
    except ValueError as err:
        fail(str(err))
    (out / "finetune.json").write_text(json.dumps(row, indent=2) + "\n")
    table = Table(title=f"{task} {variant}, fraction {fraction:g}, seed {seed}")
    table.add_column("metric")
    table.add_column("value")
    for k, v in row.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    Console().print(table)


@experiment_app.command("low-data")
def low_data_cmd(
    task: str = typer.Argument(..., help=TASK_HELP),
    data: Path = typer.Option(..., "--data", help="Dataset folder in a known layout."),
    fractions: str = typer.Option("0.05,0.1,0.25,1.0", "--fractions", help="Labelled fractions, comma-separated."),
    seeds: int = typer.Option(5, "--seeds", help="Seeds per fraction."),
    out: Path = typer.Option(..., "--out", help="Output folder: results.csv, summary.md, boost.png."),
    store: Path = typer.Option(None, "--store", help="Feature store of the booster (else extracted and cached)."),
    model: Path = typer.Option(None, "--model", help="Booster checkpoint (default: bundled)."),
    variants: str = typer.Option("", "--variants", help="Subset of the task's variants (default: all)."),
    features: str = typer.Option("", "--features", help="Booster features (default: the task's)."),
    workers: int = typer.Option(1, "--workers", help="Cells trained in parallel (one process each)."),
    max_steps: int = typer.Option(0, "--max-steps", help="Hard step cap (0 = none: patience and --max-minutes stop it)."),
    max_minutes: float = typer.Option(15.0, "--max-minutes", help="Wall-clock cap per cell (a cell that reaches "
                                      "it is reported as not converged)."),
    patience: int = typer.Option(6, "--patience", help="Validations without improvement before a cell stops."),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(2e-3, "--lr"),
) -> None:
    """Baseline vs boosted vs random-weights control at each labelled fraction and seed (resumable)."""
    from downstream.experiment import ExperimentConfig, get_task, run_experiment

    _check_data(data)
    cfg = ExperimentConfig(task, data, out, _parse_list(fractions, float, "--fractions"), seeds,
                           _parse_list(variants, str, "--variants") or None,
                           _parse_list(features, str, "--features") or None, store, model, workers,
                           _train_config(max_steps, batch_size, lr, max_minutes, patience))
    try:
        cfg.validate()
    except ValueError as err:
        fail(str(err))
    n_cells = len(cfg.fractions) * seeds * len(cfg.variants or get_task(task).variants)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        job = bar.add_task("cells", total=n_cells)

        def done(row: dict) -> None:
            bar.update(job, advance=1, description=f"{row['variant']} f={row['fraction']} s={row['seed']}")

        try:
            rows = run_experiment(cfg, on_cell=done, progress=lambda msg: bar.console.print(f"[dim]{msg}[/]"))
        except ValueError as err:
            fail(str(err))
        bar.update(job, completed=n_cells)
    Console().print(f"{len(rows)} cells in {out / 'results.csv'}; summary {out / 'summary.md'}, plot {out / 'boost.png'}")


@experiment_app.command("summarise")
def summarise_cmd(
    run: Path = typer.Option(..., "--run", help="Output folder of `booster experiment low-data`."),
) -> None:
    """Rewrite a run's summary.md and boost.png from its results.csv (after a stopped run); trains nothing."""
    from downstream.experiment import summarise_run

    try:
        rows = summarise_run(run)
    except ValueError as err:
        fail(str(err))
    Console().print(f"{len(rows)} cells summarised: {run / 'summary.md'}, plot {run / 'boost.png'}")


@app.command("evaluate")
def evaluate_cmd(
    task: str = typer.Argument(..., help=TASK_HELP),
    run: Path = typer.Option(..., "--run", help="Output folder of `booster experiment low-data` (its trained cells)."),
    data: Path = typer.Option(..., "--data", help="Another dataset folder in a known layout, with the task's labels."),
    out: Path = typer.Option(None, "--out", help="Where results.csv and summary.md go (default: RUN/evaluate-NAME)."),
    split: str = typer.Option("test", "--split", help="Which tracks of DATA (every track if it has none of it)."),
    workers: int = typer.Option(1, "--workers", help="Processes for booster feature extraction."),
    keep: Path = typer.Option(None, "--keep", help="results.csv of an earlier evaluation of this run on the same "
                              "tracks: its rows for cells whose weights are not in RUN are kept beside the new ones."),
) -> None:
    """Score the trained cells of an experiment on another dataset, without retraining."""
    from downstream.evaluate import EvaluateError, evaluate_run
    from downstream.experiment import get_task

    try:
        get_task(task)
    except ValueError as err:
        fail(str(err))
    if not run.is_dir():
        fail(f"{run}: no such experiment folder")
    _check_data(data)
    out = out or run / f"evaluate-{data.resolve().name}"
    try:
        rows = evaluate_run(task, run, data, out, split, workers,
                            progress=lambda msg: console.print(f"[dim]{msg}[/]", highlight=False), keep=keep)
    except (EvaluateError, ValueError) as err:
        fail(str(err))
    Console().print(f"{len(rows)} cells scored on {data}: {out / 'results.csv'}, summary {out / 'summary.md'}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
