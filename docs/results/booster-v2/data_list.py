"""The Booster v2 pretraining data as a table for the model card: every source's hours on disk and in
the token corpus stage 2 trained on, with origin and licence.

    python docs/results/booster-v2/data_list.py build/v2 > docs/results/booster-v2/data_list.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import soundfile as sf

RENDER_LICENCE = {  # what the renders are made of
    "fluidr3": "procedural/music21 scores rendered with FluidR3_GM (Debian fluid-soundfont-gm, MIT)",
    "timgm": "rendered with TimGM6mb (bundled with pretty_midi, GPL-2)",
    "basic": "rendered with the project's own numpy synth",
}


def main(root: Path) -> list[dict]:
    corpus = json.loads((root / "tokens" / "manifest.json").read_text())
    used = defaultdict(float)
    for f in corpus["files"]:
        parts = Path(f["path"]).parts
        key = parts[parts.index("renders") + 1] if "renders" in parts else parts[parts.index("audio") + 1]
        used[key] += f["seconds"] / 3600
    rows = []
    for group in sorted(p for p in (root / "renders").iterdir() if p.is_dir()):
        hours = sum(sf.info(str(m)).duration for m in group.glob("*/mix.flac")) / 3600
        kind = next(k for k in RENDER_LICENCE if k in group.name)
        origin = (f"our renders, {'music21 corpus' if group.name.startswith('music21') else 'procedural'} scores"
                  f"{', production effects' if group.name.endswith('-fx') else ', dry'}")
        rows.append({"name": group.name, "hours": hours, "hours_used": used.get(group.name, 0.0), "origin": origin,
                     "licence": RENDER_LICENCE[kind]})
    music = json.loads((root / "music" / "manifest.json").read_text())
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from downstream.data.debian_music import licence_of

    for pkg, info in music["packages"].items():
        rows.append({"name": pkg, "hours": info["seconds"] / 3600, "hours_used": used.get(pkg, 0.0),
                     "origin": f"Debian package {pkg} {info['version']} (recorded game music)",
                     "licence": licence_of(root / "music" / pkg, pkg)})
    return rows


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/v2")), indent=1))
