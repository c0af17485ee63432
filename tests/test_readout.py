"""The readout stack (``hqvae.readout``): config, windowed extraction equal to one pass, per-clip batches,
features from tokens, and training it alone on a teacher with the priors frozen."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from typer.testing import CliRunner

from booster import Booster
from booster.checkpoint import save_checkpoint
from booster.cli import app
from hqvae.foundation import CONFIGS, FoundationConfig, FoundationModel
from hqvae.lightning import Stage2Module, TeacherHeadSpec
from hqvae.readout import ReadoutConfig, fold


def _config(source_layers: tuple[int, ...] = (1, 2)) -> FoundationConfig:
    """Micro with a readout that reads the prior layers too (the widest inputs, the most to check)."""
    cfg = CONFIGS["micro"]()
    cfg.readout = replace(ReadoutConfig.for_prior(cfg.prior, 5), source_layers=source_layers)
    return cfg


@pytest.fixture(scope="module")
def readout_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("readout") / "ckpt"
    save_checkpoint(FoundationModel(_config()), out)
    return out


def _tokens(model: FoundationModel, seconds: float) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    hops, k = model.config.codec.hops, model.config.codec.codebook_size
    n = int(seconds * 22050) // 8 * 8
    return {lv: torch.randint(0, k, (1, -(-n // hops[lv])), generator=gen) for lv in model.levels}


def test_config_round_trip_and_bad_sources():
    cfg = _config()
    back = FoundationConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back.readout == cfg.readout and FoundationModel(back).readout is not None
    old = {k: v for k, v in cfg.readout.to_dict().items() if k != "head_activation"}  # written before the head feature
    assert ReadoutConfig.from_dict(old).head_activation == "sigmoid"
    with pytest.raises(ValueError, match="head_activation"):
        ReadoutConfig(head_activation="softmax")
    assert FoundationConfig.from_dict(CONFIGS["micro"]().to_dict()).readout is None
    cfg.readout = ReadoutConfig(source_layers=(4,))  # micro's feature layers are 1 and 2
    with pytest.raises(ValueError, match="feature layers"):
        FoundationModel(cfg)


def test_fold_puts_fine_frames_side_by_side():
    x = torch.arange(10.0).reshape(1, 10, 1)
    assert fold(x, 4, 3)[0].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 9, 9]]


def test_windowed_readout_equals_one_pass_and_needs_the_future(readout_ckpt):
    b = Booster.from_pretrained(readout_ckpt)
    assert [n for n in b.coarse_feature_names() if n.startswith("readout.")] == [
        *(f"readout.layer{i}" for i in range(1, 7)), "readout.head"]  # 4 convolutions, 2 attention layers, head
    tokens = _tokens(b.model, 6.0)
    # a convolution's and an attention layer's states, and the head's probabilities
    wanted = {"readout.layer1", "readout.layer6", "readout.head", "top.layer2"}
    with torch.inference_mode():
        single = next(b._feature_windows(iter([tokens]), wanted))
    assert set(single.features) == wanted  # the readout's sources nobody asked for are dropped
    assert single.frame_rates["readout.layer6"] == b.frame_rate("top")
    assert single.features["readout.layer6"].shape == (1, tokens["top"].shape[1], b.feature_dim("readout.layer6"))
    head = single.features["readout.head"]
    assert head.shape == (1, tokens["top"].shape[1], 5) == (1, tokens["top"].shape[1], b.feature_dim("readout.head"))
    # the head's sigmoid over the last layer's states, not a layer state
    r = b.model.readout
    with torch.inference_mode():
        torch.testing.assert_close(head, torch.sigmoid(r.head(r.norm(single.features["readout.layer6"]))))
    assert float(head.min()) > 0 and float(head.max()) < 1
    hops = b.model.config.codec.hops
    # windows of 32 top frames, shorter than the readout's reach (48): the future spans several windows
    cuts = [0, 4096, 8192, 20480, 24576, len(tokens["fine"][0]) * 8]
    pieces = [{lv: t[:, a // hops[lv]: -(-z // hops[lv])] for lv, t in tokens.items()}
              for a, z in zip(cuts[:-1], cuts[1:], strict=True)]
    with torch.inference_mode():
        parts = list(b._feature_windows(iter(pieces), wanted))
        alone = [next(b._feature_windows(iter([p]), wanted)) for p in pieces]
    for name in wanted:
        joined = torch.cat([p.features[name] for p in parts], dim=1)
        torch.testing.assert_close(joined, single.features[name], atol=1e-4, rtol=1e-4)
    # each window alone (no context either side) differs: the equality above is the context's doing
    cut = torch.cat([p.features["readout.layer6"] for p in alone], dim=1)
    assert not torch.allclose(cut, single.features["readout.layer6"], atol=1e-3)


def test_batched_clips_get_the_readout_of_each_clip_alone(readout_ckpt):
    b = Booster.from_pretrained(readout_ckpt)
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (22050, 15000, 30000)]
    names = ["readout.layer2", "mid.layer1"]
    batched = b.extract_batch(clips, 22050, features=names, batch_size=3)
    for clip, res in zip(clips, batched, strict=True):
        one = b.extract(clip, 22050, features=names)
        assert set(res.features) == set(names)
        assert res.features["readout.layer2"].shape == one.features["readout.layer2"].shape
        # the codec's last frames see the batch's padding (documented); beyond the readout's reach of the
        # first frame that does, the readout agrees with the clip extracted alone
        diff = (res.features["mid.layer1"] - one.features["mid.layer1"]).abs().amax(dim=1) > 1e-4
        n = int(diff.nonzero()[0, 0]) // 4 - b.model.readout.receptive_frames() if diff.any() else len(diff) // 4
        assert n > 20
        torch.testing.assert_close(res.features["readout.layer2"][:n], one.features["readout.layer2"][:n],
                                   atol=1e-4, rtol=1e-4)


def test_features_from_tokens_include_the_readout(readout_ckpt):
    b = Booster.from_pretrained(readout_ckpt)
    wave = (np.random.default_rng(2).standard_normal(3 * 22050) * 0.1).astype(np.float32)
    out = b.extract(wave, 22050, features=["readout.layer1"])
    again = b.features_from_tokens({lv: out.tokens[lv] for lv in ("top", "mid")}, ["readout.layer1"])
    torch.testing.assert_close(again.features["readout.layer1"], out.features["readout.layer1"], atol=1e-4, rtol=1e-4)


def test_readout_only_training_leaves_the_priors_alone():
    torch.manual_seed(0)
    model = FoundationModel(_config()).train()
    spec = TeacherHeadSpec("t", 5, "bce")
    module = Stage2Module(model, readout_teacher=spec, train_priors=False)
    module.log = lambda *a, **k: None
    tokens = {lv: t.repeat(2, 1)[:, : 64 * 4 ** i] for i, (lv, t) in enumerate(_tokens(model, 1.0).items())}
    target = (torch.rand(2, 64, 5) > 0.8).float()
    loss = module.training_step({"tokens": tokens, "teachers": {"t": target}}, 0)
    loss.backward()
    assert all(p.grad is None for p in model.priors.parameters())
    assert model.readout.convs[0].weight.grad is not None
    optimised = {id(p) for g in module.configure_optimizers().param_groups for p in g["params"]}
    assert optimised == {id(p) for p in model.readout.parameters()}
    # the readout reads the unshifted pass, as extraction does: its inputs hold the states of frame t
    with torch.no_grad():
        states = model.priors["top"].hidden_states(tokens["top"])
        expected = model.readout.loss(model.readout.hidden_states(
            [model.codec.embed("top", tokens["top"]), states[1], states[2]],
            [model.codec.embed("mid", tokens["mid"]),
             *(model.priors["mid"].hidden_states(tokens["mid"], tokens["top"])[j] for j in (1, 2))]), target)
    torch.testing.assert_close(loss.detach(), expected)
    with pytest.raises(ValueError, match="readout_teacher"):
        Stage2Module(model, train_priors=False)


def test_pretrain_readout_only_on_a_token_corpus(rendered_corpus, micro_ckpt, tmp_path):
    corpus = tmp_path / "tokens"
    res = CliRunner().invoke(app, ["data", "tokenize", str(corpus), f"{rendered_corpus}:*/mix.flac",
                                   "--model", str(micro_ckpt), "--teachers", "cqt"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "run"
    args = ["pretrain", str(corpus), "--out", str(out), "--init", str(micro_ckpt), "--stage1-minutes", "0",
            "--minutes", "0.1", "--batch-size", "2", "--stage2-crop-seconds", "1.0"]
    res = CliRunner().invoke(app, args + ["--readout-only"])
    assert res.exit_code == 2 and "--teachers" in res.output
    res = CliRunner().invoke(app, args + ["--readout-only", "--teachers", "cqt", "--readout-weights", "1,0.5"])
    assert res.exit_code == 2 and "one weight >= 0 per teacher" in res.output
    res = CliRunner().invoke(app, args + ["--readout-only", "--teachers", "cqt"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["stage2_steps"] > 0 and summary["readout_teacher"] == "cqt" and summary["prior_levels"] == []
    before, after = load_file(str(micro_ckpt / "model.safetensors")), load_file(str(out / "model.safetensors"))
    for key in before:  # codec and priors untouched
        torch.testing.assert_close(after[key], before[key], msg=key)
    assert any(k.startswith("readout.") for k in after)
    b = Booster.from_pretrained(out)
    wave = (np.random.default_rng(3).standard_normal(22050) * 0.1).astype(np.float32)
    out = b.extract(wave, 22050, features=["readout.layer6", "readout.head"])
    feats = out.features["readout.layer6"]
    assert feats.shape[1] == b.model.config.readout.dim and torch.isfinite(feats).all()
    # a regression teacher (cqt, MSE): the head's feature is its raw output in the teacher's 144 bands
    assert b.model.config.readout.head_activation == "none"
    head = out.features["readout.head"]
    assert head.shape == (feats.shape[0], 144)
    r = b.model.readout
    with torch.inference_mode():
        torch.testing.assert_close(head, r.head(r.norm(feats)))


def test_readout_learns_several_teachers_side_by_side():
    torch.manual_seed(0)
    cfg = _config(())
    cfg.readout = replace(cfg.readout, outputs=8)
    model = FoundationModel(cfg).train()
    specs = [TeacherHeadSpec("notes", 5, "bce"), TeacherHeadSpec("key", 3, "bce")]
    module = Stage2Module(model, readout_teacher=specs, train_priors=False)
    logged = {}
    module.log = lambda name, value, **k: logged.__setitem__(name, float(value))
    tokens = {lv: t.repeat(2, 1)[:, : 64 * 4 ** i] for i, (lv, t) in enumerate(_tokens(model, 1.0).items())}
    targets = {"notes": (torch.rand(2, 64, 5) > 0.8).float(), "key": torch.softmax(torch.randn(2, 64, 3), -1)}
    loss = module.training_step({"tokens": tokens, "teachers": targets}, 0)
    with torch.no_grad():  # each teacher scored on its own slice of the head, as a mean over its own channels
        logits = model.readout.logits(model.readout.hidden_states([model.codec.embed("top", tokens["top"])],
                                                                  [model.codec.embed("mid", tokens["mid"])]))
        notes = F.binary_cross_entropy_with_logits(logits[..., :5], targets["notes"])
        key = F.binary_cross_entropy_with_logits(logits[..., 5:], targets["key"])
    assert logged["stage2/readout_notes"] == pytest.approx(float(notes), rel=1e-5)
    assert logged["stage2/readout_key"] == pytest.approx(float(key), rel=1e-5)
    torch.testing.assert_close(loss.detach(), notes + key)
    weighed = Stage2Module(model, readout_teacher=specs, train_priors=False, readout_weights=[1.0, 0.25])
    weighed.log = lambda *a, **k: None
    torch.testing.assert_close(weighed.training_step({"tokens": tokens, "teachers": targets}, 0).detach(),
                               notes + 0.25 * key)
    with pytest.raises(ValueError, match="readout weights"):
        Stage2Module(model, readout_teacher=specs, train_priors=False, readout_weights=[1.0])
    with pytest.raises(ValueError, match="8 outputs"):
        model.readout.losses([torch.zeros(1, 4, model.readout.cfg.dim)], [torch.zeros(1, 4, 5)], ["bce"])


def test_with_readout_widens_a_trained_head_for_new_teachers():
    from booster.pretrain import with_readout

    torch.manual_seed(0)
    model = FoundationModel(_config()).eval()  # a readout trained on one teacher of 5 channels
    wider = with_readout(model, [5, 3], ["bce", "bce"]).eval()
    assert wider.readout.cfg.outputs == 8 and wider.readout.cfg.source_layers == (1, 2)
    old, new = model.state_dict(), wider.state_dict()
    for key in old:  # all kept, the head's first 5 rows too
        torch.testing.assert_close(new[key][:5] if key.startswith("readout.head.") else new[key], old[key], msg=key)
    assert not torch.equal(new["readout.head.weight"][5:], torch.zeros(3, model.readout.cfg.dim))  # fresh rows
    assert with_readout(model, [5], ["bce"]) is model  # the width it has: kept as it is
    with pytest.raises(ValueError, match="listed first"):
        with_readout(model, [3, 5], ["bce", "bce"])
    with pytest.raises(ValueError, match="one loss per teacher"):
        with_readout(model, [5, 3], ["bce", "l1"])
    with pytest.raises(ValueError, match="activations"):  # its 5 outputs are probabilities, not a regression
        with_readout(model, [5], ["mse"])


def test_readout_head_of_probabilities_beside_a_regression():
    """A bce teacher and an mse one side by side: the feature is probabilities then raw outputs, and each
    teacher is scored by its own loss on its own slice."""
    from booster.pretrain import with_readout

    torch.manual_seed(0)
    model = FoundationModel(_config()).eval()  # trained on one bce teacher of 5 channels
    mixed = with_readout(model, [5, 3], ["bce", "mse"]).eval()
    cfg = mixed.readout.cfg
    assert cfg.activations() == [(5, "sigmoid"), (3, "none")]
    assert ReadoutConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    states = [torch.randn(2, 16, cfg.dim) * 3]
    logits = mixed.readout.logits(states)
    post = mixed.readout.posteriors(states)
    torch.testing.assert_close(post[..., :5], torch.sigmoid(logits[..., :5]))
    torch.testing.assert_close(post[..., 5:], logits[..., 5:])
    assert (logits[..., 5:] < 0).any()  # the regression part is not squashed
    notes, emb = (torch.rand(2, 16, 5) > 0.7).float(), torch.randn(2, 16, 3)
    bce, mse = mixed.readout.losses(states, [notes, emb], ["bce", "mse"])
    torch.testing.assert_close(bce, F.binary_cross_entropy_with_logits(logits[..., :5], notes))
    torch.testing.assert_close(mse, F.mse_loss(logits[..., 5:], emb))
    assert with_readout(mixed, [5, 3], ["bce", "mse"]) is mixed
    from booster.model_card import readout_sentence

    assert "(5 probabilities, then 3 raw outputs)" in readout_sentence(cfg.to_dict(), 22050)
    assert readout_sentence(model.readout.cfg.to_dict(), 22050).endswith("(probabilities).")
    with pytest.raises(ValueError, match="head_segments"):
        ReadoutConfig(outputs=8, head_segments=((5, "sigmoid"), (2, "none")))
