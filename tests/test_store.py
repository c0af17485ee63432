"""The Zarr feature store and `booster cache` / `booster info`: resumable, parallel, failure-tolerant."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from booster.cli import app
from feature_store import FeatureStore
from feature_store.cache import CacheItem, run_cache
from feature_store.store import Compression, FeatureSpec, RawChunkReader, StoreError

SPECS = [FeatureSpec("top.tokens", 10.0, 0), FeatureSpec("top.layer1", 10.0, 2)]


def _synthetic(n: int):
    return {"top.tokens": np.arange(n) % 7, "top.layer1": np.stack([np.arange(n), -np.arange(n)], 1) / 8}


def test_window_returns_the_right_frames(tmp_path):
    store = FeatureStore.create(tmp_path / "s.zarr", "fp", SPECS)
    with store.writer() as w:
        w.add("a", _synthetic(30), duration=3.0)
        w.add("b", _synthetic(50), duration=5.0)
    store = FeatureStore.open(tmp_path / "s.zarr")
    assert store.tracks() == ["a", "b"] and store.feature_names() == ["top.tokens", "top.layer1"]
    win = store.window("b", "top.layer1", 1.25, 0.5)  # frames 12..16
    np.testing.assert_allclose(win, np.stack([np.arange(12, 17), -np.arange(12, 17)], 1) / 8)
    assert store.window("b", "top.tokens", 1.25, 0.5).tolist() == [5, 6, 0, 1, 2]
    assert store.window("a", "top.layer1", 2.8, 1.0).shape == (2, 2)  # cut at the end
    np.testing.assert_allclose(store.read("a", "top.layer1"), _synthetic(30)["top.layer1"])
    with pytest.raises(StoreError, match="after the track's end"):
        store.window("a", "top.layer1", 3.5, 1.0)
    with pytest.raises(StoreError, match="no feature"):
        store.window("a", "nope", 0, 1)
    with pytest.raises(StoreError, match="no complete track"):
        store.window("zzz", "top.tokens", 0, 1)


def test_unflushed_tracks_stay_invisible_and_shapes_are_checked(tmp_path):
    store = FeatureStore.create(tmp_path / "s.zarr", "fp", SPECS)
    w = store.writer(flush_frames=10**9)
    w.add("a", _synthetic(30))
    assert FeatureStore.open(tmp_path / "s.zarr").tracks() == []  # a crash here loses nothing visible
    w.flush()
    assert FeatureStore.open(tmp_path / "s.zarr").tracks() == ["a"]
    with pytest.raises(StoreError, match="shape"):
        w.add("bad", {"top.tokens": np.zeros(3), "top.layer1": np.zeros((3, 5))})


def test_fingerprint_mismatch_is_refused(tmp_path):
    FeatureStore.create(tmp_path / "s.zarr", "model-a", SPECS)
    with pytest.raises(StoreError, match="stale"):
        FeatureStore.open(tmp_path / "s.zarr", fingerprint="model-b")
    assert FeatureStore.open(tmp_path / "s.zarr", fingerprint="model-b", allow_mismatch=True).fingerprint == "model-a"


@pytest.fixture(scope="module")
def audio_folder(rendered_corpus, tmp_path_factory) -> Path:
    """Good files (rendered mixes and stems) plus a corrupt, an empty and a NaN file."""
    folder = tmp_path_factory.mktemp("audio")
    for i, f in enumerate(sorted(rendered_corpus.rglob("*.flac"))[:12]):
        shutil.copy(f, folder / f"good{i:02d}.flac")
    (folder / "bad").mkdir()
    (folder / "bad" / "corrupt.wav").write_bytes(b"RIFF" + os.urandom(3000))
    (folder / "bad" / "empty.flac").write_bytes(b"")
    nan = np.full(22050, np.nan, dtype=np.float32)
    sf.write(str(folder / "bad" / "nan.wav"), nan, 22050, subtype="FLOAT")
    return folder


def test_cache_records_failures_and_goes_on(audio_folder, micro_ckpt, tmp_path):
    runner = CliRunner()
    store_path = tmp_path / "f.zarr"
    res = runner.invoke(app, ["cache", str(audio_folder), "-o", str(store_path), "--model", str(micro_ckpt)])
    assert res.exit_code == 1, res.output
    store = FeatureStore.open(store_path)
    assert len(store.tracks()) == 12
    assert set(store.failures()) == {"bad/corrupt", "bad/empty", "bad/nan"}
    assert "NaN" in store.failures()["bad/nan"] and "empty" in store.failures()["bad/empty"]
    info = runner.invoke(app, ["info", str(store_path)])
    assert info.exit_code == 0 and "tracks 12" in info.output and "3 failed" in info.output
    assert "top.layer2" in info.output
    # features match a direct extraction
    from booster import Booster
    from booster.audio import load_audio

    b = Booster.from_pretrained(micro_ckpt)
    audio, _ = load_audio(audio_folder / "good03.flac", 22050, mono=True)
    direct = b.extract(audio, 22050)
    # stored at the coarsest rate: mid frames averaged in fours (groups of 2^k down to top's rate)
    assert store.specs["mid.layer1"].pool == 4 and store.specs["top.layer1"].pool == 1
    assert store.specs["mid.layer1"].frame_rate == store.specs["top.layer1"].frame_rate
    mid = direct.features["mid.layer1"].numpy()
    expected = np.concatenate([mid[:len(mid) // 4 * 4].reshape(-1, 4, mid.shape[1]).mean(1),
                               mid[len(mid) // 4 * 4:].mean(0, keepdims=True)][:1 + (len(mid) % 4 > 0)])
    np.testing.assert_allclose(store.read("good03", "mid.layer1"), expected,
                               rtol=1e-2, atol=1e-2)  # float16 at bfloat16's precision
    assert store.read("good03", "fine.tokens").tolist() == direct.tokens["fine"].tolist()
    # rerun: nothing left to do but the failures, which fail again
    again = runner.invoke(app, ["cache", str(audio_folder), "-o", str(store_path), "--model", str(micro_ckpt)])
    assert again.exit_code == 1 and "skipped 12" in again.output


def test_other_model_store_refused_by_cache(audio_folder, micro_ckpt, tmp_path):
    store_path = tmp_path / "f.zarr"
    FeatureStore.create(store_path, "another-model", SPECS)
    res = CliRunner().invoke(app, ["cache", str(audio_folder), "-o", str(store_path), "--model", str(micro_ckpt)])
    assert res.exit_code == 2 and "stale" in res.output


def test_cache_on_a_gpu_torch_cannot_see_is_one_line(audio_folder, micro_ckpt, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    store_path = tmp_path / "f.zarr"
    for device in ("cuda", "cuda:1"):
        res = CliRunner().invoke(app, ["cache", str(audio_folder), "-o", str(store_path), "--model", str(micro_ckpt),
                                       "--device", device])
        assert res.exit_code == 2 and "torch sees 0 CUDA device(s)" in res.output and "Traceback" not in res.output
    assert not store_path.exists()  # refused before anything is written


def test_extraction_on_cuda_runs_in_full_fp32():
    """TF32 changes tokens against the CPU's: a Booster on a CUDA device turns it off, on the CPU it leaves it."""
    import torch

    from booster.extract import exact_fp32_on

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        assert not exact_fp32_on("cpu") and torch.backends.cudnn.allow_tf32
        assert exact_fp32_on("cuda:0") and exact_fp32_on(torch.device("cuda"))
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _store_contents(path: Path) -> dict:
    store = FeatureStore.open(path)
    return {(t, n): store.read(t, n) for t in store.tracks() for n in store.feature_names()}


def test_kill_9_then_resume_gives_identical_features(audio_folder, micro_ckpt, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    for f in sorted(audio_folder.glob("good*.flac")):
        for k in range(3):  # 36 tracks: enough work to be caught mid-run
            shutil.copy(f, good / f"{f.stem}_{k}.flac")
    ref = tmp_path / "ref.zarr"
    # at the CLI's default precision (bfloat16 priors where the CPU has them natively)
    run_cache([CacheItem(p.stem, str(p)) for p in sorted(good.glob("*.flac"))], ref, micro_ckpt, precision="auto")

    killed = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "booster.cli", "cache", str(good), "-o", str(killed), "--model", str(micro_ckpt),
           "--shard-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (killed / "manifest").exists() and len(list((killed / "manifest").glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = FeatureStore.open(killed).tracks()
    assert 2 <= len(partial) < 36
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert f"skipped {len(partial)}" in res.stdout.replace("\n", " ")
    a, b = _store_contents(ref), _store_contents(killed)
    assert a.keys() == b.keys() and len(a) == 36 * 7  # default preset: 3 levels of tokens + top and mid x 2 layers
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_local_processes_and_dask_cluster_match_inline(audio_folder, micro_ckpt, tmp_path):
    from distributed import LocalCluster

    items = [CacheItem(p.stem, str(p)) for p in sorted(audio_folder.glob("good*.flac"))]
    run_cache(items, tmp_path / "inline.zarr", micro_ckpt, shard_size=4)
    report = run_cache(items, tmp_path / "procs.zarr", micro_ckpt, workers=2, shard_size=3)
    assert report["done"] == 12
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        report = run_cache(items, tmp_path / "dask.zarr", micro_ckpt, scheduler=cluster.scheduler_address,
                           shard_size=3)
    assert report["done"] == 12 and not report["failed"]
    ref = _store_contents(tmp_path / "inline.zarr")
    for other in ("procs.zarr", "dask.zarr"):
        got = _store_contents(tmp_path / other)
        assert got.keys() == ref.keys()
        for key in ref:
            np.testing.assert_array_equal(got[key], ref[key])


def test_killed_dask_worker_the_job_finishes_and_equals_a_local_run(audio_folder, micro_ckpt, tmp_path):
    """SIGKILL a Dask worker while it extracts: the cluster retries its shard elsewhere, the retry skips the
    tracks already committed, the dead worker's half-written part stays invisible, and the store equals
    a local run's."""
    import signal
    import threading
    import time

    from distributed import Client, LocalCluster

    files = sorted(audio_folder.glob("good*.flac"))
    items = [CacheItem(f"{k}-{p.stem}", str(p)) for k in range(3) for p in files]  # 36 tracks
    run_cache(items, tmp_path / "local.zarr", micro_ckpt, workers=1)
    path = tmp_path / "dask.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster.scheduler_address) as client:
        report: dict = {}
        job = threading.Thread(target=lambda: report.update(run_cache(
            items, path, micro_ckpt, scheduler=cluster.scheduler_address, shard_size=1)))
        job.start()
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline:
            done = len(list((path / "manifest").glob("*.json"))) if (path / "manifest").exists() else 0
            busy = [w for w, tasks in client.processing().items() if tasks]
            if done >= 2 and busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed = done
            time.sleep(0.01)
        job.join(timeout=300)
    assert killed is not None and killed < len(items), "the worker was not killed mid-run"
    assert report["done"] == len(items) and not report["failed"]
    ref, got = _store_contents(tmp_path / "local.zarr"), _store_contents(path)
    assert got.keys() == ref.keys()
    for key in ref:
        np.testing.assert_array_equal(got[key], ref[key])


@pytest.mark.parametrize("compression", [Compression("none", 0, 10), Compression("zstd", 3, 7)],
                         ids=["raw-lossless", "zstd-7bits"])
def test_raw_chunk_reads_match_zarr_across_chunks_and_unwritten_chunks(tmp_path, compression):
    import zarr

    specs = [FeatureSpec("t.tokens", 100.0, 0), FeatureSpec("t.feat", 100.0, 3)]
    store = FeatureStore.create(tmp_path / "s.zarr", "fp", specs, compression=compression)
    rng = np.random.default_rng(0)
    feats = {"t.tokens": rng.integers(0, 300, 2000), "t.feat": rng.standard_normal((2000, 3))}
    feats["t.feat"][400:1600] = 0.0  # whole chunks of fill value: zarr does not write them
    with store.writer() as w:
        w.add("x", feats)
    store = FeatureStore.open(tmp_path / "s.zarr")
    part = store.entries()["x"].part
    for name in ("t.tokens", "t.feat"):
        z = zarr.open_array(str(tmp_path / "s.zarr" / "parts" / part / name), mode="r")
        raw = RawChunkReader.for_array(z, tmp_path / "s.zarr" / "parts" / part / name)
        assert raw is not None
        for a, b in [(0, 1), (395, 405), (399, 1203), (1999, 2000), (0, 2000), (800, 1200)]:
            np.testing.assert_array_equal(raw[a:b], z[a:b])
    assert not list((tmp_path / "s.zarr" / "parts" / part / "t.feat" / "c").glob("2/*"))  # really unwritten
    np.testing.assert_array_equal(store.read("x", "t.tokens"), feats["t.tokens"])  # tokens always exact
    got, f16 = store.read("x", "t.feat"), feats["t.feat"].astype(np.float16).astype(np.float32)
    if compression.keep_bits == 10:
        np.testing.assert_array_equal(got, f16)
    else:  # round to nearest with 7 mantissa bits: relative error <= 2**-8, and not lossless
        assert np.all(np.abs(got - f16) <= 2.0 ** -8 * np.abs(f16) + 1e-7) and np.any(got != f16)
    assert isinstance(store._arrays[f"parts/{part}/t.feat"], RawChunkReader)  # the fast path is the one used
    assert store._arrays[f"parts/{part}/t.feat"].compressed == (compression.codec != "none")


def test_reader_sees_tracks_appended_to_a_chunk_it_already_mapped(tmp_path):
    store = FeatureStore.create(tmp_path / "s.zarr", "fp", SPECS)
    reader = FeatureStore.open(tmp_path / "s.zarr")
    with store.writer(flush_frames=1) as w:
        w.add("a", _synthetic(12))
        assert reader.entries(refresh=True) and reader.read("a", "top.tokens").tolist() == list(np.arange(12) % 7)
        w.add("b", {"top.tokens": np.full(9, 5), "top.layer1": np.full((9, 2), 0.5)})  # same chunk, rewritten
    reader.entries(refresh=True)
    assert reader.read("b", "top.tokens").tolist() == [5] * 9
    np.testing.assert_allclose(reader.read("b", "top.layer1"), 0.5)


def test_window_dataset_aligns_features(tmp_path):
    from feature_store.dataset import WindowDataset

    store = FeatureStore.create(tmp_path / "s.zarr", "fp", SPECS + [FeatureSpec("fine.layer1", 40.0, 3)])
    with store.writer() as w:
        feats = _synthetic(30)
        feats["fine.layer1"] = np.repeat(np.arange(120, dtype=np.float32)[:, None], 3, 1)
        w.add("a", feats, duration=3.0)
    ds = WindowDataset(FeatureStore.open(tmp_path / "s.zarr"), ["top.tokens", "fine.layer1"], window_s=1.0,
                       frame_rate=20.0, hop_s=0.5, labels=lambda t, s, d: torch.tensor([s]))
    assert len(ds) == 5  # starts 0, 0.5, ..., 2.0
    item = ds[2]
    assert item["start_s"] == 1.0 and item["labels"].item() == 1.0
    assert item["top.tokens"].shape == (20,) and item["fine.layer1"].shape == (20, 3)
    assert item["top.tokens"].tolist()[:4] == [10 % 7, 10 % 7, 11 % 7, 11 % 7]
    # 40 -> 20 frames/s: each output frame averages two source frames (centre convention)
    np.testing.assert_allclose(item["fine.layer1"][:3, 0].numpy(), [40.5, 42.5, 44.5])


def test_feature_presets(micro_ckpt, audio_folder, tmp_path):
    from booster import Booster
    from feature_store.cache import feature_specs, preset_of, resolve_features

    b = Booster.from_pretrained(micro_ckpt)
    tokens = ["top.tokens", "mid.tokens", "fine.tokens"]
    default = resolve_features(b, None)
    assert default == tokens + ["top.layer1", "top.layer2", "mid.layer1", "mid.layer2"]
    assert resolve_features(b, ["tokens"]) == tokens
    assert set(resolve_features(b, ["all"])) == set(tokens) | set(b.feature_names())
    assert resolve_features(b, ["tokens", "top.embedding", "top.tokens"]) == tokens + ["top.embedding"]
    assert preset_of(b, list(reversed(default))) == "default" and preset_of(b, ["top.tokens"]) is None
    with pytest.raises(ValueError, match="or a preset: default, all, tokens"):
        feature_specs(b, ["everything"])
    # the CLI: a tokens-only store, and `info` names its preset and its size per audio hour
    good = tmp_path / "good"
    good.mkdir()
    for f in sorted(audio_folder.glob("good0[12].flac")):
        (good / f.name).write_bytes(f.read_bytes())
    store_path = tmp_path / "t.zarr"
    res = CliRunner().invoke(app, ["cache", str(good), "-o", str(store_path), "--model", str(micro_ckpt),
                                   "--features", "tokens"])
    assert res.exit_code == 0, res.output
    assert sorted(FeatureStore.open(store_path).feature_names()) == sorted(tokens)
    info = CliRunner().invoke(app, ["info", str(store_path)])
    assert info.exit_code == 0 and "preset 'tokens'" in info.output and "MB per audio hour" in info.output
    # resuming with the same preset is fine, with another refused
    res = CliRunner().invoke(app, ["cache", str(good), "-o", str(store_path), "--model", str(micro_ckpt),
                                   "--features", "default"])
    assert res.exit_code == 2 and "use a new store" in res.output


def test_units_of_work_are_sized_by_audio_duration(tmp_path):
    from feature_store.cache import shards

    def wav(name, seconds):
        path = tmp_path / name
        sf.write(str(path), np.zeros(int(seconds * 8000), np.float32), 8000)
        return CacheItem(name, str(path))

    long = [wav(f"long{i}.wav", 360) for i in range(4)]
    # four 6-minute files and two workers: four units, not one shard of eight tracks on one worker
    assert [len(u) for u in shards(long, 8, workers=2)] == [1, 1, 1, 1]
    assert [len(u) for u in shards(long, 8, workers=1)] == [4]
    short = [wav(f"s{i:02d}.wav", 2) for i in range(20)]
    units = shards(short, 8, workers=2)  # 40 s of audio: units of about 5 s, capped at 8 tracks anyway
    assert [i.track_id for u in units for i in u] == [i.track_id for i in short]  # order kept, nothing lost
    assert max(len(u) for u in units) <= 8 and len(units) >= 4
    mixed = shards([wav("bad.wav", 0.0)] + long[:2], 8, workers=2)
    assert [i.track_id for u in mixed for i in u] == ["bad.wav", "long0.wav", "long1.wav"]


def test_features_not_stored_are_computed_from_stored_tokens(audio_folder, micro_ckpt, tmp_path):
    """A tokens-only store gives prior features on read, equal to extraction from the audio; a store of
    another model is refused, and so is a feature whose tokens are missing."""
    from booster import Booster
    from booster.audio import load_audio

    good = tmp_path / "one"
    good.mkdir()
    (good / "a.flac").symlink_to(audio_folder / "good03.flac")
    run_cache([CacheItem("a", str(good / "a.flac"))], tmp_path / "t.zarr", micro_ckpt, ["tokens"])
    store = FeatureStore.open(tmp_path / "t.zarr")
    b = Booster.from_pretrained(micro_ckpt)
    audio, _ = load_audio(good / "a.flac", 22050, mono=True)
    direct = b.extract(audio, 22050, features=["top.layer2", "mid.layer1"])
    for name in ("top.layer2", "mid.layer1"):
        got = store.read("a", name, booster=b)
        np.testing.assert_allclose(got, direct.features[name].numpy(), atol=1e-4, rtol=1e-4)
    with pytest.raises(StoreError, match="no feature"):  # without a model, a missing feature is an error
        store.read("a", "mid.layer1")
    other = Booster.from_pretrained(micro_ckpt)
    other.fingerprint = "0" * 64
    with pytest.raises(StoreError, match="mix models"):
        store.read("a", "top.layer2", booster=other)
    run_cache([CacheItem("a", str(good / "a.flac"))], tmp_path / "top.zarr", micro_ckpt, ["top.tokens"])
    with pytest.raises(StoreError, match="missing"):
        FeatureStore.open(tmp_path / "top.zarr").read("a", "mid.layer1", booster=b)


def test_slurm_recipe_runs_one_single_threaded_worker_per_core():
    """The SLURM cluster's job script (no SLURM needed to write it): cores workers of one thread per job."""
    pytest.importorskip("dask_jobqueue")
    from feature_store.cluster import slurm_cluster

    with slurm_cluster(cores=6, memory="12GB", walltime="01:00:00", queue="cpu",
                       scheduler_options={"dashboard_address": None}) as cluster:
        script = cluster.job_script()
    assert "#SBATCH --cpus-per-task=6" in script and "#SBATCH -p cpu" in script
    assert "--nworkers 6" in script and "--nthreads 1" in script
    with pytest.raises(ValueError, match="cores per SLURM job"):
        slurm_cluster(memory="1GB")


def test_precision_auto_is_bfloat16_only_where_it_is_native(monkeypatch):
    import booster.device as device

    with pytest.raises(ValueError, match="--precision must be one of auto, float32, bfloat16"):
        device.resolve_precision("fp8", "cpu")
    assert device.resolve_precision("float32", "cpu") == "float32"
    assert device.resolve_precision("bfloat16", "cpu") == "bfloat16"
    monkeypatch.setattr(device, "native_bf16", lambda d: False)
    assert device.resolve_precision("auto", "cpu") == "float32"
    monkeypatch.setattr(device, "native_bf16", lambda d: True)
    assert device.resolve_precision("auto", "cpu") == "bfloat16"


def test_bfloat16_priors_keep_every_token_and_stay_close_to_float32(micro_ckpt, audio_folder):
    from booster import Booster
    from booster.audio import load_audio

    audio, _ = load_audio(audio_folder / "good03.flac", 22050, mono=True)
    ref = Booster.from_pretrained(micro_ckpt).extract(audio, 22050)
    bf16 = Booster.from_pretrained(micro_ckpt, precision="bfloat16")
    out = bf16.extract(audio, 22050)
    for level in ref.tokens:  # the codec stays float32
        assert torch.equal(out.tokens[level], ref.tokens[level])
    for name, x in ref.features.items():
        y = out.features[name]
        assert y.dtype == torch.float32 and y.shape == x.shape
        drift = float((y - x).norm() / x.norm())
        if ".layer" in name and not name.startswith("readout."):  # the priors ran in bfloat16
            assert 0 < drift < 0.02, (name, drift)
        else:  # code vectors and the readout are float32 (the readout reads bfloat16-made layer features)
            assert drift < 0.02, (name, drift)
    # streamed in short windows (each prior layer keeps its past across them) it is the same computation
    bf16.window_s = 2.0
    short = bf16.extract(audio, 22050)
    for name, x in out.features.items():
        assert float((short.features[name] - x).norm() / x.norm()) < 0.01, name


def test_a_store_keeps_the_precision_it_was_made_with(audio_folder, micro_ckpt, tmp_path):
    items = [CacheItem(p.stem, str(p)) for p in sorted(audio_folder.glob("good0[12].flac"))]
    run_cache(items, tmp_path / "once.zarr", micro_ckpt, precision="bfloat16")
    resumed = tmp_path / "resumed.zarr"
    run_cache(items[:1], resumed, micro_ckpt, precision="bfloat16")
    assert FeatureStore.open(resumed).precision == "bfloat16"
    with pytest.raises(StoreError, match="computed in bfloat16, not float32"):
        run_cache(items, resumed, micro_ckpt, precision="float32")
    # `auto` resumes at the store's precision, even on a machine where auto would mean float32
    report = run_cache(items, resumed, micro_ckpt, precision="auto")
    assert report["done"] == 1 and report["skipped"] == 1
    ref, got = _store_contents(tmp_path / "once.zarr"), _store_contents(resumed)
    assert got.keys() == ref.keys()
    for key in ref:
        np.testing.assert_array_equal(got[key], ref[key])
    run_cache(items, tmp_path / "f32.zarr", micro_ckpt)  # the library's default
    assert FeatureStore.open(tmp_path / "f32.zarr").precision == "float32"
    float32 = _store_contents(tmp_path / "f32.zarr")
    assert not np.array_equal(float32[("good02", "mid.layer1")], ref[("good02", "mid.layer1")])
    # the CLI: `info` names it; a bad value is one line, before anything is written
    info = CliRunner().invoke(app, ["info", str(resumed)])
    assert info.exit_code == 0 and "priors in bfloat16" in info.output
    res = CliRunner().invoke(app, ["cache", str(audio_folder), "-o", str(tmp_path / "x.zarr"), "--model",
                                   str(micro_ckpt), "--precision", "fp8"])
    assert res.exit_code == 2 and "--precision must be one of" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.zarr").exists()

