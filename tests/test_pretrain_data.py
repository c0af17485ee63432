"""Pretraining data v2: the Debian music recipe (offline parts), production effects, SoundFont choice."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import soundfile as sf
import yaml

from downstream.data.debian_music import RecipeError, check_allowed, prepare
from downstream.data.render import RenderConfig, render_corpus
from tests.conftest import sine


@pytest.mark.parametrize("package", ["wesnoth-1.16-music", "wesnoth-music", "planetblupi-music-ogg",
                                     "musescore-general-soundfont"])
def test_reserved_packages_are_refused_for_pretraining(package):
    with pytest.raises(RecipeError, match="reserved for evaluation"):
        check_allowed(package)
    check_allowed(package, evaluation=True)  # evaluation sets may use them


def test_package_names_are_validated():
    check_allowed("ufoai-music")
    for bad in ("../etc", "ufoai music", "-rf", ""):
        with pytest.raises(RecipeError, match="not a Debian package name"):
            check_allowed(bad)


def test_prepare_links_music_once_with_licences(tmp_path):
    pkg = tmp_path / "demo-music"
    (pkg / "usr/share/doc/demo-music").mkdir(parents=True)
    (pkg / "usr/share/doc/demo-music/copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nLicense: CC-BY-SA-3.0\n\nFiles: debian/*\nLicense: GPL-2+\n")
    music = pkg / "usr/share/games/demo/music"
    music.mkdir(parents=True)
    sf.write(str(music / "theme.ogg"), sine(25, 22050, 330.0), 22050)
    (music / "copy-of-theme.ogg").write_bytes((music / "theme.ogg").read_bytes())  # packages ship duplicates
    sf.write(str(music / "click.wav"), sine(0.5, 22050), 22050)  # a sound effect, not music
    (music / "broken.ogg").write_bytes(b"not audio")
    sf.write(str(tmp_path / "battle.wav"), sine(21, 22050, 220.0), 22050)
    with zipfile.ZipFile(pkg / "usr/share/games/demo/music.pk3", "w") as z:  # game archives hold music too
        z.write(tmp_path / "battle.wav", "../../sound/battle.wav")
    (tmp_path / "battle.wav").unlink()
    (pkg / ".unpacked").write_text(json.dumps({"package": "demo-music", "version": "1.0-1"}))

    manifest = prepare(tmp_path, say=lambda m: None)
    assert manifest["packages"]["demo-music"]["licence"] == "CC-BY-SA-3.0, GPL-2+"
    assert manifest["packages"]["demo-music"]["version"] == "1.0-1"
    kept = sorted(f["source"].split("/")[-1] for f in manifest["files"])
    assert kept == ["battle.wav", "copy-of-theme.ogg"] or kept == ["battle.wav", "theme.ogg"]
    assert abs(manifest["hours"] - 46 / 3600) < 1e-3
    assert any("shorter than" in why for why in manifest["skipped"].values())
    assert any("same bytes as" in why for why in manifest["skipped"].values())
    assert list(manifest["failed"]) == ["demo-music/usr/share/games/demo/music/broken.ogg"]
    for f in manifest["files"]:
        linked = tmp_path / f["path"]
        assert linked.parent.parent == tmp_path / "audio" and linked.stat().st_nlink == 2  # a hard link
    # the archive member was written inside the package, whatever path it claimed
    assert (pkg / "_archives" / "music" / "battle.wav").exists()
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert prepare(tmp_path, say=lambda m: None)["files"] == manifest["files"]  # idempotent


def test_production_effects_change_the_mix_not_the_music(tmp_path):
    dry = render_corpus(tmp_path / "dry", RenderConfig(2, 4.0, "procedural", "basic", seed=5))
    wet = render_corpus(tmp_path / "wet", RenderConfig(2, 4.0, "procedural", "basic", seed=5, effects=True))
    assert [r["tags"] for r in dry] == [r["tags"] for r in wet]
    for t in ("Track00001", "Track00002"):
        d, _ = sf.read(str(tmp_path / "dry" / t / "mix.flac"))
        w, _ = sf.read(str(tmp_path / "wet" / t / "mix.flac"))
        assert d.shape == w.shape and np.abs(d - w).max() > 0.05
        assert abs(np.abs(w).max() - 0.9) < 0.01
        np.testing.assert_array_equal(sf.read(str(tmp_path / "dry" / t / "stems" / "S00.flac"))[0],
                                      sf.read(str(tmp_path / "wet" / t / "stems" / "S00.flac"))[0])
        meta = yaml.safe_load((tmp_path / "wet" / t / "metadata.yaml").read_text())
        assert {"low_shelf", "high_shelf", "peak", "compressor"} <= set(meta["production"])
        assert "production" not in yaml.safe_load((tmp_path / "dry" / t / "metadata.yaml").read_text())


def test_soundfont_option_is_validated(tmp_path):
    with pytest.raises(ValueError, match="needs --synth fluidsynth"):
        RenderConfig(1, 2.0, synth="basic", soundfont="timgm6mb").validate()
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="not an .sf2 file"):
        RenderConfig(1, 2.0, synth="fluidsynth", soundfont=str(tmp_path / "x.txt")).validate()


def test_licence_is_read_from_old_free_text_copyright_files():
    from downstream.data.debian_music import licence_from_prose

    gpl = ("This package was debianized by someone.\nThis program is free software; you can redistribute it and/or\n"
           "modify it under the terms of the GNU General Public License\nas published by the Free Software Foundation;"
           " either version 2\nof the License, or (at your option) any later version.\n")
    assert licence_from_prose(gpl) == "GPL-2+"
    cc = ("License\n THE WORK IS PROVIDED UNDER THE TERMS OF THIS CREATIVE COMMONS PUBLIC LICENSE.\n"
          " elements of this License: Attribution, ShareAlike.\n (e.g., Attribution-ShareAlike 3.0 US)\n")
    assert licence_from_prose(cc) == "CC-BY-SA-3.0"
    assert licence_from_prose("Copyright 2001 Someone. All rights reserved.") == "Copyright 2001 Someone. All rights reserved."
