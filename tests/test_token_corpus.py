"""Token corpora (``booster data tokenize``) and stage 2 trained on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from booster.cli import app
from booster.extract import Booster
from booster.token_corpus import TokenCorpus, TokenCrops, codec_fingerprint


@pytest.fixture(scope="module")
def token_corpus(rendered_corpus, micro_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokens") / "corpus"
    res = CliRunner().invoke(app, ["data", "tokenize", str(out), f"{rendered_corpus}:*/mix.flac",
                                   "--model", str(micro_ckpt), "--teachers", "cqt"])
    assert res.exit_code == 0, res.output
    return out


def test_corpus_holds_the_tokens_extraction_gives(token_corpus, rendered_corpus, micro_ckpt):
    corpus = TokenCorpus.load(token_corpus)
    files = sorted(rendered_corpus.glob("*/mix.flac"))
    assert [f["path"] for f in corpus.manifest["files"]] == [str(f) for f in files]
    assert corpus.manifest["levels"] == ["top", "mid"]
    assert sum(f["seconds"] for f in corpus.manifest["files"]) == pytest.approx(5 * 6, abs=0.1)
    booster = Booster.from_pretrained(micro_ckpt)
    from booster.audio import load_audio

    audio, _ = load_audio(files[1], booster.sample_rate, mono=True)
    expected = booster.extract(audio, booster.sample_rate, features=[]).tokens
    for level in ("top", "mid"):
        np.testing.assert_array_equal(corpus.tokens[1][level], expected[level].numpy())
    cqt = corpus.teachers[1]["cqt"]
    assert cqt.dtype == np.float16 and cqt.shape[1] == 144 and abs(len(cqt) - 6 * 50) <= 1
    assert corpus.manifest["codec_fingerprint"] == codec_fingerprint(booster.model)


def test_hard_targets_are_bit_packed_and_come_back_exact(rendered_corpus, micro_ckpt, tmp_path, monkeypatch):
    from booster import teachers

    rng = np.random.default_rng(0)
    made = {}

    def fake(name):
        def run(audio):
            y = (rng.random((len(audio) // 256, 176)) > 0.9).astype(np.float32)
            made[len(made)] = y
            return y
        return run

    monkeypatch.setattr(teachers, "make_teacher", fake)
    from booster.token_corpus import build_token_corpus

    files = sorted(rendered_corpus.glob("*/mix.flac"))[:2]
    build_token_corpus(files, tmp_path / "c", Booster.from_pretrained(micro_ckpt), teachers=("basic-pitch",))
    corpus = TokenCorpus.load(tmp_path / "c")
    assert corpus.manifest["teachers"]["basic-pitch"]["hard"]
    for i in range(2):
        np.testing.assert_array_equal(corpus.teachers[i]["basic-pitch"], made[i])


def test_a_rerun_reuses_finished_files(token_corpus, rendered_corpus, micro_ckpt, monkeypatch):
    monkeypatch.setattr(Booster, "extract", lambda *a, **k: pytest.fail("a finished file was encoded again"))
    from booster.token_corpus import build_token_corpus

    files = sorted(rendered_corpus.glob("*/mix.flac"))
    manifest = build_token_corpus(files, token_corpus, Booster.from_pretrained(micro_ckpt), teachers=("cqt",))
    assert len(manifest["files"]) == len(files)


def test_tokens_from_another_corpus_skip_the_codec(token_corpus, rendered_corpus, micro_ckpt, tmp_path, monkeypatch):
    """The same audio with other teachers: the tokens of the files the first corpus holds are copied, the
    rest encoded; a corpus of another codec is refused."""
    import shutil

    from booster.token_corpus import build_token_corpus

    files = sorted(rendered_corpus.glob("*/mix.flac"))
    extra = tmp_path / "extra.flac"
    shutil.copy(files[0], extra)  # a file the first corpus does not hold
    encoded = []
    extract = Booster.extract
    monkeypatch.setattr(Booster, "extract", lambda self, audio, *a, **k: encoded.append(1) or extract(self, audio, *a, **k))
    booster = Booster.from_pretrained(micro_ckpt)
    build_token_corpus([*files, extra], tmp_path / "c", booster, tokens_from=token_corpus)
    assert len(encoded) == 1
    first, second = TokenCorpus.load(token_corpus), TokenCorpus.load(tmp_path / "c")
    for a, b in zip(first.tokens, second.tokens, strict=False):
        for level in ("top", "mid"):
            np.testing.assert_array_equal(a[level], b[level])
    for level in ("top", "mid"):
        np.testing.assert_array_equal(second.tokens[-1][level], first.tokens[0][level])
    other = tmp_path / "other"
    shutil.copytree(token_corpus, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "codec_fingerprint": "0" * 64}))
    with pytest.raises(ValueError, match="another codec"):
        build_token_corpus(files, tmp_path / "d", booster, tokens_from=other)
    res = CliRunner().invoke(app, ["data", "tokenize", str(tmp_path / "e"), str(files[0]), "--model", str(micro_ckpt),
                                   "--tokens-from", str(tmp_path / "nothing")])
    assert res.exit_code != 0 and "not a finished token corpus" in res.output


def test_crops_line_levels_and_teachers_up(token_corpus):
    corpus = TokenCorpus.load(token_corpus)
    crops = TokenCrops(corpus, frames=40, seed=2)
    ratio = corpus.manifest["hops"]["top"] // corpus.manifest["hops"]["mid"]
    for i in range(6):
        item = crops[i]
        assert item["tokens"]["top"].shape == (40,) and item["tokens"]["mid"].shape == (40 * ratio,)
        assert item["teachers"]["cqt"].shape == (40, 144) and item["teachers"]["cqt"].dtype == torch.float32
        k, a = crops.locate(i)
        np.testing.assert_array_equal(item["tokens"]["top"].numpy(), crops.tokens[k]["top"][a:a + 40])
        np.testing.assert_array_equal(item["tokens"]["mid"].numpy(), crops.tokens[k]["mid"][a * ratio:(a + 40) * ratio])
        # the cqt frame (50 fps) nearest to the centre of top frame a
        centre = (a + 0.5) / crops.rate
        np.testing.assert_array_equal(item["teachers"]["cqt"][0].numpy(),
                                      crops.teachers[k]["cqt"][int(centre * 50)].astype(np.float32))
    paired = TokenCrops(corpus, frames=40, seed=2, pairs=True)
    assert all(paired.locate(2 * j)[0] == paired.locate(2 * j + 1)[0] for j in range(8))


def test_pretrain_on_a_token_corpus(token_corpus, micro_ckpt, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["pretrain", str(token_corpus), "--out", str(out), "--init", str(micro_ckpt),
                                   "--stage1-minutes", "0", "--minutes", "0.15", "--batch-size", "2",
                                   "--stage2-crop-seconds", "1.0", "--teachers", "cqt"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["token_corpus"] and summary["prior_levels"] == ["top", "mid"] and summary["stage2_steps"] > 0
    before, after = load_file(str(micro_ckpt / "model.safetensors")), load_file(str(out / "model.safetensors"))
    for key in before:
        if key.startswith("codec.") or key.startswith("priors.fine."):
            torch.testing.assert_close(after[key], before[key], msg=key)
    assert not torch.equal(after["priors.mid.head.weight"], before["priors.mid.head.weight"])
    logged = next((out / "logs" / "stage2").rglob("metrics.csv")).read_text()
    assert "stage2/top_cqt" in logged and "stage2/mid_nll" in logged and "stage2/fine_nll" not in logged


def test_pretrain_refuses_a_corpus_it_cannot_use(token_corpus, micro_ckpt, tmp_path):
    base = ["pretrain", str(token_corpus), "--out", str(tmp_path / "r"), "--minutes", "0.1"]
    res = CliRunner().invoke(app, base + ["--init", str(micro_ckpt)])
    assert res.exit_code == 2 and "--stage1-minutes 0" in res.output
    res = CliRunner().invoke(app, base + ["--init", str(micro_ckpt), "--stage1-minutes", "0", "--teachers", "chroma"])
    assert res.exit_code == 2 and "no targets of teachers ['chroma']" in res.output
    # another codec (the same architecture, other weights) made other tokens
    from booster.checkpoint import save_checkpoint
    from hqvae.foundation import CONFIGS, FoundationModel

    torch.manual_seed(1)
    other = tmp_path / "other"
    save_checkpoint(FoundationModel(CONFIGS["micro"]()), other)
    res = CliRunner().invoke(app, base + ["--init", str(other), "--stage1-minutes", "0"])
    assert res.exit_code == 2 and "made by another codec" in res.output
    res = CliRunner().invoke(app, ["data", "tokenize", str(tmp_path / "t"), str(tmp_path / "missing")])
    assert res.exit_code == 2 and "not found" in res.output


def test_teacher_head_reads_the_position_that_has_seen_the_frame(micro_ckpt):
    """Frame t's teacher prediction depends on token t and not on token t + 1 (what extraction's
    feature at frame t has seen)."""
    from booster.checkpoint import load_checkpoint
    from booster.teachers import head_specs
    from hqvae.lightning import Stage2Module

    torch.manual_seed(0)
    module = Stage2Module(load_checkpoint(micro_ckpt), teachers=head_specs(["cqt"]))
    prior = module.model.priors["top"]
    tokens = torch.randint(0, 32, (1, 24))
    targets = torch.zeros(1, 24, 144)

    def pred(tok):
        _, states = prior.logits_and_states(tok)
        return module.teacher_prediction("top", "cqt", states, targets)[0][0]

    base = pred(tokens)
    assert base.shape == (23, 144)
    t = 10
    changed = tokens.clone()
    changed[0, t] = (tokens[0, t] + 1) % 32
    moved = pred(changed)
    assert not torch.allclose(moved[t], base[t])  # frame t sees its own token
    torch.testing.assert_close(moved[:t], base[:t])  # and nothing later


def test_model_card_of_a_stage2_only_run(micro_ckpt):
    from booster.model_card import render_card

    levels = {lv: {"usage_pct": 99.0, "perplexity": 20.0} for lv in ("top", "mid", "fine")}
    report = {"held_out_seconds": 10.0, "hqvae": {"levels": levels, "mr_stft": 1.5, "si_sdr_db": 10.0},
              "vq_baseline": {"levels": levels, "mr_stft": 1.6, "si_sdr_db": 9.0}, "prior": {}}
    training = {"hours": 13.0, "clips_used": 1146, "token_corpus": True, "device": "cuda", "device_name": "NVIDIA H200",
                "prior_levels": ["top", "mid"], "minutes_budget": 8.0, "stage2_steps": 1773, "batch_size": 32,
                "stage2_crop_seconds": 6.0, "teachers": ["basic-pitch-notes"], "teacher_weight": 10.0,
                "final_stage1": {}, "final_stage2": {"stage2/top_nll": 3.38, "stage2/mid_nll": 3.94,
                                                     "stage2/top_basic-pitch-notes": 0.0814, "stage2/loss": 8.9}}
    data = [{"name": "renders-a", "hours": 6.0, "hours_used": 1.5, "origin": "our renders", "licence": "MIT"},
            {"name": "ufoai-music", "hours": 4.0, "hours_used": 1.0, "origin": "Debian", "licence": "CC-BY-3.0"}]
    card = render_card(micro_ckpt, training, report, "booster pretrain ...", "v2 data", "| probe |", data)
    assert "stage 2 only" in card and "NVIDIA H200" in card and "nan" not in card
    assert "stage-2 NLL (nats) top 3.380, mid 3.940" in card and "top_basic-pitch-notes 0.0814" in card
    assert "| **total** | **10.00** | **2.50** |" in card and "| ufoai-music | 4.00 | 1.00 | Debian | CC-BY-3.0 |" in card
    assert "Basic Pitch" in card and "| probe |" in card


def test_model_card_names_every_teacher_of_a_readout(micro_ckpt):
    from booster.model_card import teacher_lines

    training = {"teachers": ["basic-pitch-notes", "key", "tempo"], "readout_teacher": "basic-pitch-notes",
                "readout_teachers": ["basic-pitch-notes", "key", "tempo"], "prior_levels": []}
    lines = teacher_lines(training)
    assert "in this order" in lines[0] and len(lines) == 4
    assert lines[1].startswith("  - `basic-pitch-notes` (176 channels)") and "key CNN" in lines[2] and "TCN" in lines[3]
    # a card written before readouts had several teachers names its one
    old = teacher_lines({**training, "teachers": ["basic-pitch-notes"], "readout_teachers": None})
    assert len(old) == 2 and "`basic-pitch-notes`" in old[1]
    # a readout-only run keeps its parent's priors: their teachers come from the nearest ancestor that trained them
    priors_run = {"teachers": ["basic-pitch-notes", "tempo"], "teacher_weight": 10.0, "prior_levels": ["top", "mid"],
                  "fingerprint": "1cfd160c09ef"}
    readout_run = {**training, "init_training": {**training, "init_training": priors_run}}
    kept = teacher_lines(readout_run)
    assert len(kept) == 7 and "Teachers of the priors, kept from `1cfd160c`" in kept[4] and "weight 10.0" in kept[4]
    assert "TCN" in kept[6] and len(teacher_lines({**training, "init_training": {"prior_levels": []}})) == 4
    weighed = teacher_lines({**training, "readout_weights": [1.0, 0.5, 0.25]})
    assert "(24 channels, loss weight 0.5)" in weighed[2] and "loss weight 0.25" in weighed[3]


def test_model_card_of_a_merged_checkpoint(micro_ckpt):
    """Priors of one run and the readout of another: the card names both runs, both sets of teachers and the
    readout's own loss."""
    from booster.model_card import render_card

    levels = {lv: {"usage_pct": 99.0, "perplexity": 20.0} for lv in ("top", "mid", "fine")}
    report = {"held_out_seconds": 10.0, "hqvae": {"levels": levels, "mr_stft": 1.5, "si_sdr_db": 10.0},
              "vq_baseline": {"levels": levels, "mr_stft": 1.6, "si_sdr_db": 9.0}, "prior": {}}
    run = {"hours": 13.0, "clips_used": 1146, "token_corpus": True, "device": "cuda", "device_name": "NVIDIA H200",
           "minutes_budget": 7.0, "batch_size": 32, "stage2_crop_seconds": 6.0, "final_stage1": {}}
    readout_run = {**run, "stage2_steps": 18705, "prior_levels": [], "teachers": ["basic-pitch-notes"],
                   "readout_teacher": "basic-pitch-notes", "readout_teachers": ["basic-pitch-notes"],
                   "final_stage2": {"stage2/readout_basic-pitch-notes": 0.0247, "stage2/loss": 0.0247}}
    training = {**run, "stage2_steps": 12007, "prior_levels": ["top", "mid"], "teachers": ["basic-pitch-notes", "tempo"],
                "teacher_weight": 10.0, "readout_teacher": "basic-pitch-notes", "readout_teachers": ["basic-pitch-notes"],
                "readout_training": readout_run,
                "final_stage2": {"stage2/top_nll": 3.22, "stage2/mid_nll": 3.92, "stage2/top_tempo": 0.267}}
    card = render_card(micro_ckpt, training, report, "booster pretrain ...", "v2 data")
    assert "merged" in card and "12007 stage-2 steps" in card and "18705 steps" in card and "nan" not in card
    assert "Teachers (stage-2 heads" in card and "Teachers of the readout" in card and "TCN" in card
    assert "readout_basic-pitch-notes 0.0247" in card and "top_tempo 0.2670" in card


def test_fresh_priors_restart_the_trained_priors_and_keep_the_rest(token_corpus, micro_ckpt, tmp_path):
    from booster.checkpoint import load_checkpoint
    from booster.pretrain import with_fresh_priors
    from hqvae.foundation import FoundationModel

    init = load_checkpoint(micro_ckpt)
    before = {k: v.clone() for k, v in init.state_dict().items()}
    model = with_fresh_priors(init, ("top", "mid"), seed=3)
    torch.manual_seed(3)
    reference = FoundationModel(init.config).state_dict()
    for key, value in model.state_dict().items():
        want = reference[key] if key.startswith(("priors.top.", "priors.mid.")) else before[key]
        torch.testing.assert_close(value, want, msg=key)
    assert not torch.equal(model.state_dict()["priors.top.head.weight"], before["priors.top.head.weight"])
    with pytest.raises(ValueError, match="no prior to re-initialise"):
        with_fresh_priors(init, ("bass",))

    from booster.checkpoint import save_checkpoint

    trained = tmp_path / "trained"  # an --init checkpoint whose priors have trained 100000 steps
    save_checkpoint(load_checkpoint(micro_ckpt), trained, extra={"training": {"stage2_steps": 100_000}})
    out = tmp_path / "fresh"
    base = ["pretrain", str(token_corpus), "--init", str(trained), "--stage1-minutes", "0", "--minutes", "0.1",
            "--batch-size", "2", "--stage2-crop-seconds", "1.0", "--fresh-priors"]
    res = CliRunner().invoke(app, base + ["--out", str(out), "--bidirectional-levels", "top,mid"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "training.json").read_text())
    # the priors' step count starts at 0, not at the --init checkpoint's
    assert summary["fresh_priors"] and summary["init_stage2_steps"] == 0 and 0 < summary["stage2_steps"] < 100_000
    assert summary["bidirectional_levels"] == ["top", "mid"]
    res = CliRunner().invoke(app, base + ["--out", str(tmp_path / "r2"), "--readout-only", "--teachers", "cqt"])
    assert res.exit_code == 2 and "--fresh-priors" in res.output


def test_a_run_from_a_checkpoint_records_how_that_checkpoint_was_trained(micro_ckpt, tmp_path):
    """``init_training``: the parent's training.json, so that a readout-only run's card names the teachers of the
    priors it kept; a parent without one (or with a broken one) records nothing."""
    import shutil

    from booster.pretrain import PretrainConfig, initial_model

    parent = tmp_path / "parent"
    shutil.copytree(micro_ckpt, parent)
    _, start = initial_model(PretrainConfig(init=str(parent)))
    assert "init_training" not in start and start["init_fingerprint"]
    record = {"teachers": ["key"], "prior_levels": ["top"], "fingerprint": "ab" * 32}
    (parent / "training.json").write_text(json.dumps(record))
    assert initial_model(PretrainConfig(init=str(parent)))[1]["init_training"] == record
    (parent / "training.json").write_text("[1, 2")
    assert "init_training" not in initial_model(PretrainConfig(init=str(parent)))[1]
