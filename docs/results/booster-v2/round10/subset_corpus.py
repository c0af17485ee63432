"""A random subset of a token corpus's files, small enough to travel to the GPU machine with the repository
(the device tool carries 64 MiB in all; the repository is about 24 MB of it).

    python docs/results/booster-v2/round10/subset_corpus.py IN OUT --max-mb 35 [--seed 0]

Files are taken in a seeded random order until the next one would push tokens.npz past --max-mb (estimated
from each file's share of the full corpus's compressed size), so the mix of recorded music and renders stays
that of the full corpus. Every array is sliced as stored (tokens and bit-packed or float16 targets alike).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--max-mb", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    manifest = json.loads((args.src / "manifest.json").read_text())
    full_mb = (args.src / "tokens.npz").stat().st_size / 1e6
    files = manifest["files"]
    total_s = sum(f["seconds"] for f in files)
    order = np.random.default_rng(args.seed).permutation(len(files))
    chosen, mb = [], 0.0
    for i in order:
        share = full_mb * files[i]["seconds"] / total_s
        if mb + share > args.max_mb:
            break
        chosen.append(int(i))
        mb += share
    chosen.sort()
    arrays = {}
    with np.load(args.src / "tokens.npz", allow_pickle=False) as z:
        names = [k for k in z.files if not k.endswith("__offsets")]
        for n in names:
            data, off = z[n], z[f"{n}__offsets"]
            pieces = [data[off[i]:off[i + 1]] for i in chosen]
            arrays[n] = np.concatenate(pieces)
            arrays[f"{n}__offsets"] = np.cumsum([0] + [len(p) for p in pieces]).astype(np.int64)
    args.dst.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.dst / "tokens.npz", **arrays)
    sub = dict(manifest, files=[files[i] for i in chosen],
               hours=round(sum(files[i]["seconds"] for i in chosen) / 3600, 3),
               subset_of={"corpus": str(args.src), "files": len(files), "hours": manifest["hours"], "seed": args.seed})
    (args.dst / "manifest.json").write_text(json.dumps(sub, indent=1) + "\n")
    music = sum(files[i]["seconds"] for i in chosen if "/music/" in files[i]["path"]) / 3600
    print(f"{len(chosen)} of {len(files)} files, {sub['hours']} h ({music:.2f} h recorded music), "
          f"{(args.dst / 'tokens.npz').stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
