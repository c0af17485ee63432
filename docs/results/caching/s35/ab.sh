#!/usr/bin/env bash
# Session 35's engine changes against the session's start (72706df), one after the other on the same quiet machine:
# `booster bench extract` (10 s held-out render, 2 threads) and `booster bench store` (the 4 recordings of
# bench_store_music.log: 3 asc-music MP3s and one drascula-music Ogg, 20.6 min, 2 workers).
# OLD: a worktree of 72706df (git worktree add /tmp/oldtree 72706df), run with PYTHONPATH pointing at it.
set -euo pipefail
OLD=${OLD:-/tmp/oldtree}
R=docs/results/caching/s35
B=.venv/bin/booster
for what in extract store; do
  args=(bench $what); [ $what = store ] && args+=(--audio build/v2/music/audio --audio-files 4)
  PYTHONPATH=$OLD $B "${args[@]}" --out $R/${what}_old.json 2>&1 | grep -v libmpg123 | tee $R/${what}_old.log
  $B "${args[@]}" --out $R/${what}_new.json 2>&1 | grep -v libmpg123 | tee $R/${what}_new.log
done
