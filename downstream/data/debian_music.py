"""Real recorded music for pretraining: Debian's game-music packages, as a recipe.

Two idempotent verbs, as lhotse recipes have:

- :func:`obtain`: ``apt-get download`` each package's ``.deb`` and ``dpkg -x`` it into
  ``OUT/<package>/`` (no system install, no root needed beyond what apt-get download needs);
  a package already unpacked is skipped.
- :func:`prepare`: scan the unpacked audio (and the audio inside game archives, ``.pk3``/``.zip``),
  keep music (at least ``min_seconds`` long, each recording once: packages ship duplicates) as
  hard links under ``OUT/audio/<package>/``, and write ``OUT/manifest.json``: per file its package,
  version, licence (from the package's ``copyright`` file), duration, rate and channels.

Reserved for evaluation, never for training: ``wesnoth-*-music`` and ``planetblupi-music-*``
(and the MuseScore SoundFonts); :func:`check_allowed` refuses them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

#: the default pretraining packages (about 9 h of music, ~540 MB unpacked)
PRETRAIN_PACKAGES = ("ufoai-music", "nexuiz-music", "warzone2100-music", "hyperrogue-music",
                     "singularity-music", "asc-music", "drascula-music")
#: evaluation-only packages: never fetched for pretraining
RESERVED_PATTERNS = ("wesnoth-*-music", "wesnoth-music", "planetblupi-music*", "musescore*")
AUDIO_SUFFIXES = (".ogg", ".flac", ".wav", ".mp3", ".opus")
ARCHIVE_SUFFIXES = (".pk3", ".zip")


class RecipeError(RuntimeError):
    """A package cannot be fetched or unpacked; the message names it and the fix."""


def check_allowed(package: str, evaluation: bool = False) -> None:
    """Refuse what is not a package name, and (unless ``evaluation``) the packages reserved for evaluation."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", package):
        raise RecipeError(f"{package!r} is not a Debian package name")
    for pattern in () if evaluation else RESERVED_PATTERNS:
        if fnmatch.fnmatch(package, pattern):
            raise RecipeError(f"{package} is reserved for evaluation (matches {pattern}); it is never used "
                              "for pretraining")


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError as err:
        raise RecipeError(f"{cmd[0]} not found: this recipe needs Debian's apt-get and dpkg") from err
    except subprocess.CalledProcessError as err:
        reason = (err.stderr or err.stdout or "").strip().splitlines()
        raise RecipeError(f"{' '.join(cmd)} failed: {reason[-1] if reason else err.returncode} "
                          "(run 'apt-get update' first if the package is not found)") from err


def obtain(out: str | Path, packages: tuple[str, ...] = PRETRAIN_PACKAGES,
           say: Callable[[str], None] = print, evaluation: bool = False) -> list[Path]:
    """Download and unpack ``packages`` into ``out/<package>/``; returns the package folders.

    ``evaluation=True`` lets the reserved packages through (for evaluation sets, e.g. the MuseScore
    SoundFonts of out-of-domain renders); pretraining data never passes it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        check_allowed(pkg, evaluation)
    dirs = []
    for pkg in packages:
        dest = out / pkg
        dirs.append(dest)
        if (dest / ".unpacked").exists():
            continue
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            say(f"downloading {pkg}")
            _run(["apt-get", "download", pkg], cwd=Path(tmp))
            debs = sorted(Path(tmp).glob("*.deb"))
            if len(debs) != 1:
                raise RecipeError(f"apt-get download {pkg} gave {len(debs)} files, expected one .deb")
            version = _run(["dpkg-deb", "--field", str(debs[0]), "Version"]).strip()
            staging = Path(tmp) / "root"
            _run(["dpkg", "-x", str(debs[0]), str(staging)])
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)  # complete or absent: a crash never leaves half a package looking done
        (dest / ".unpacked").write_text(json.dumps({"package": pkg, "version": version}) + "\n")
    return dirs


def licence_of(pkg_dir: Path, package: str) -> str:
    """The licence names from the package's machine-readable copyright file (or its first lines)."""
    copyright_file = pkg_dir / "usr" / "share" / "doc" / package / "copyright"
    if not copyright_file.exists():
        return "unknown (no copyright file)"
    text = copyright_file.read_text(errors="replace")
    names = sorted({m.strip() for m in re.findall(r"^License:\s*(.+)$", text, flags=re.M)})
    return ", ".join(names) if names else licence_from_prose(text)


def licence_from_prose(text: str) -> str:
    """Licence names read from an old, free-text copyright file (no ``License:`` fields): the GPL and
    Creative Commons wordings Debian's packages use; else the file's first words, to be read by a person."""
    flat = " ".join(text.split())
    found = []
    gpl = re.search(r"GNU (Lesser )?General Public License.{0,200}?version (\d)", flat, flags=re.I)
    if gpl:
        later = re.search(r"any later version", flat, flags=re.I) is not None
        found.append(f"{'LGPL' if gpl.group(1) else 'GPL'}-{gpl.group(2)}{'+' if later else ''}")
    cc = re.search(r"Creative Commons", flat, flags=re.I)
    if cc:
        elements = re.search(r"License: ((?:Attribution|ShareAlike|NonCommercial|NoDerivs)(?:, (?:Attribution|"
                             r"ShareAlike|NonCommercial|NoDerivs))*)", flat)
        version = re.search(r"(?:ShareAlike|Attribution|NonCommercial|NoDerivs)[- ](\d\.\d)", flat)
        short = {"Attribution": "BY", "ShareAlike": "SA", "NonCommercial": "NC", "NoDerivs": "ND"}
        parts = [short[e] for e in elements.group(1).split(", ")] if elements else []
        found.append("CC-" + "-".join(parts or ["?"]) + (f"-{version.group(1)}" if version else ""))
    return ", ".join(found) if found else " ".join(text.split()[:30])


def extract_archives(pkg_dir: Path) -> list[Path]:
    """Audio members of the game archives (``.pk3``, ``.zip``) in a package, written flat under
    ``pkg_dir/_archives/<archive>/`` (member names are reduced to their base name: no path from an
    archive can point outside). Idempotent; returns the files."""
    import zipfile

    written = []
    for archive in sorted(p for p in pkg_dir.rglob("*") if p.suffix.lower() in ARCHIVE_SUFFIXES
                          and "_archives" not in p.parts):
        dest = pkg_dir / "_archives" / archive.stem
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                name = Path(info.filename).name
                if info.is_dir() or Path(name).suffix.lower() not in AUDIO_SUFFIXES:
                    continue
                target = dest / name
                if not target.exists():
                    dest.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_suffix(target.suffix + ".part")
                    with z.open(info) as src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    tmp.replace(target)
                written.append(target)
    return written


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare(out: str | Path, min_seconds: float = 20.0, say: Callable[[str], None] = print) -> dict:
    """Scan every unpacked package under ``out``, link its music into ``out/audio/<package>/`` and write
    ``out/manifest.json``; returns it. Shorter files (sound effects, jingles) and byte-identical
    copies are listed as skipped."""
    import soundfile as sf

    out = Path(out)
    packages, files, failed, skipped, seen = {}, [], {}, {}, {}
    for stamp in sorted(out.glob("*/.unpacked")):
        info = json.loads(stamp.read_text())
        pkg, pkg_dir = info["package"], stamp.parent
        check_allowed(pkg)
        extract_archives(pkg_dir)
        packages[pkg] = {"version": info["version"], "licence": licence_of(pkg_dir, pkg),
                         "copyright_file": f"{pkg}/usr/share/doc/{pkg}/copyright", "seconds": 0.0, "files": 0}
        linked = out / "audio" / pkg
        for path in sorted(p for p in pkg_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
            rel = str(path.relative_to(out))
            try:
                meta = sf.info(str(path))
            except Exception as err:  # noqa: BLE001 - an unreadable file is recorded and skipped
                failed[rel] = str(err).splitlines()[0]
                continue
            if meta.duration < min_seconds:
                skipped[rel] = f"shorter than {min_seconds:g} s"
                continue
            digest = _sha256(path)
            if digest in seen:
                skipped[rel] = f"same bytes as {seen[digest]}"
                continue
            seen[digest] = rel
            link = linked / f"{len(files):05d}-{path.name}"
            if not link.exists():
                linked.mkdir(parents=True, exist_ok=True)
                os.link(path, link)
            files.append({"path": str(link.relative_to(out)), "source": rel, "package": pkg,
                          "seconds": round(meta.duration, 3), "sample_rate": meta.samplerate,
                          "channels": meta.channels, "sha256": digest})
            packages[pkg]["seconds"] += meta.duration
            packages[pkg]["files"] += 1
    manifest = {"packages": packages, "files": files, "failed": failed, "skipped": skipped,
                "hours": round(sum(f["seconds"] for f in files) / 3600, 3)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    say(f"{len(files)} music files, {manifest['hours']:.2f} h from {len(packages)} packages in {out / 'audio'} "
        f"({len(skipped)} skipped, {len(failed)} unreadable)")
    return manifest
