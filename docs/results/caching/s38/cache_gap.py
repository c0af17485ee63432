"""Session 38: where `booster cache` (2 workers) loses against the model's own speed, on this 2-core AMX CPU.

    stream FILE PRECISION THREADS   Booster.stream of a whole file, default features, one process
    cache                           run_cache of build/v2/music/audio's first 4 files (the `booster bench store`
                                    set), 2 workers, bench defaults: startup, steady and overall x realtime

`cache_gap.log` has the figures and the commands (two `stream` processes at once were started from the shell).
"""
import sys
import tempfile
import time
from pathlib import Path


def stream(path: str, precision: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    from booster.audio import probe
    from booster.extract import Booster
    from feature_store.cache import preset_features

    booster = Booster.from_pretrained(precision=precision)
    names = [n for n in preset_features(booster, "default") if not n.endswith(".tokens")]
    t0 = time.perf_counter()
    for _ in booster.stream(path, features=names):
        pass
    print(f"{Path(path).name} {precision} {threads} thread(s): {probe(path).duration / (time.perf_counter() - t0):.1f}x")


def cache() -> None:
    from booster.audio import find_audio, probe
    from feature_store.cache import CacheItem, run_cache

    files = sorted(find_audio("build/v2/music/audio"))[:4]
    items = [CacheItem(f"t{i}", str(p)) for i, p in enumerate(files)]
    seconds = sum(probe(p).duration for p in files)
    marks: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_cache(items, Path(tmp) / "s.zarr", workers=2, precision="auto",
                  on_progress=lambda s: marks.append((time.perf_counter(), s)))
        wall = time.perf_counter() - t0
    steady = [m for m in marks if marks[0][0] + 2 < m[0] < marks[-1][0] - 2]
    print(f"{seconds / wall:.1f}x realtime overall ({wall:.1f} s for {seconds:.0f} s); first window done "
          f"{marks[0][0] - t0:.1f} s after the start; steady {sum(s for _, s in steady) / (steady[-1][0] - steady[0][0]):.1f}x")


if __name__ == "__main__":
    if sys.argv[1] == "stream":
        stream(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        cache()
