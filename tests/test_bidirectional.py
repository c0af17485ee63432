"""Bidirectional (masked-token) priors: attention both ways, a masked objective, and windowed
extraction that reads right context from the next window and still equals one pass."""

from __future__ import annotations

import pytest
import torch

from booster import Booster
from booster.checkpoint import save_checkpoint
from booster.extract import with_lookahead
from hqvae.foundation import CONFIGS, FoundationConfig, FoundationModel
from hqvae.lightning import Stage2Module, TeacherHeadSpec
from hqvae.prior import masked_nll_of, span_mask


def _model(levels=("top", "mid", "fine")) -> FoundationModel:
    torch.manual_seed(0)
    cfg = CONFIGS["micro"]()
    cfg.bidirectional_levels = tuple(levels)
    return FoundationModel(cfg).eval()


def _tokens(model: FoundationModel, seconds: float = 6.0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    hops, k = model.config.codec.hops, model.config.codec.codebook_size
    n = int(seconds * 22050) // 8 * 8
    return {lv: torch.randint(0, k, (1, -(-n // hops[lv])), generator=gen) for lv in model.levels}


def test_config_round_trip_and_unknown_levels():
    cfg = CONFIGS["micro"]()
    cfg.bidirectional_levels = ("top", "mid")
    back = FoundationConfig.from_dict(cfg.to_dict())
    assert back.bidirectional_levels == ("top", "mid")
    model = FoundationModel(back)
    assert [model.priors[lv].cfg.causal for lv in model.levels] == [False, False, True]
    cfg.bidirectional_levels = ("bass",)
    with pytest.raises(ValueError, match="bidirectional_levels"):
        FoundationModel(cfg)


def test_bidirectional_states_see_the_future_and_causal_ones_do_not():
    tokens = _tokens(_model(), 1.0)["top"]
    changed = tokens.clone()
    changed[:, 100] = (changed[:, 100] + 1) % 32
    for levels, sees in ((("top",), True), ((), False)):
        prior = _model(levels).priors["top"]
        with torch.no_grad():
            a, b = prior.hidden_states(tokens)[-1], prior.hidden_states(changed)[-1]
        assert torch.equal(a[:, 100:], b[:, 100:]) is False
        assert (not torch.allclose(a[:, 90:100], b[:, 90:100])) is sees


def test_windowed_bidirectional_extraction_equals_one_pass(tmp_path):
    model = _model()
    save_checkpoint(model, tmp_path / "bi")
    b = Booster.from_pretrained(tmp_path / "bi")
    tokens = _tokens(b.model)
    wanted = {"top.layer1", "top.layer2", "mid.layer2", "fine.layer2"}
    with torch.inference_mode():
        single = next(b._feature_windows(iter([tokens]), wanted))
    hops = b.model.config.codec.hops
    cuts = [0, 4096, 8192, 20480, 22528, len(tokens["fine"][0]) * 8]  # short windows: the future spans several
    pieces = [{lv: t[:, a // hops[lv]: -(-z // hops[lv])] for lv, t in tokens.items()}
              for a, z in zip(cuts[:-1], cuts[1:], strict=True)]
    with torch.inference_mode():
        parts = list(b._feature_windows(iter(pieces), wanted))
    assert len(parts) == len(pieces)
    for name in wanted:
        joined = torch.cat([p.features[name] for p in parts], dim=1)
        torch.testing.assert_close(joined, single.features[name], atol=1e-4, rtol=1e-4)


def test_with_lookahead_gathers_the_next_frames():
    windows = [{"a": torch.arange(s, e)[None]} for s, e in ((0, 4), (4, 5), (5, 9), (9, 12))]
    got = [(w["a"][0].tolist(), f["a"][0].tolist()) for w, f in with_lookahead(iter(windows), 3)]
    assert got == [([0, 1, 2, 3], [4, 5, 6]), ([4], [5, 6, 7]), ([5, 6, 7, 8], [9, 10, 11]), ([9, 10, 11], [])]


def test_span_mask_covers_about_the_rate():
    mask = span_mask((4, 5000), 0.3, 8, torch.Generator().manual_seed(0))
    assert mask.any(dim=1).all()
    assert 0.2 < mask.float().mean() < 0.32  # overlapping spans cover a little less than the rate


def test_masked_nll_is_the_mean_over_masked_frames_only():
    gen = torch.Generator().manual_seed(2)
    logits, tokens = torch.randn(3, 50, 7, generator=gen), torch.randint(0, 7, (3, 50), generator=gen)
    mask = span_mask((3, 50), 0.3, 4, torch.Generator().manual_seed(1))
    want = torch.nn.functional.cross_entropy(logits[mask], tokens[mask])
    torch.testing.assert_close(masked_nll_of(logits, tokens, mask), want)
    changed = tokens.clone()
    changed[~mask] = (changed[~mask] + 1) % 7  # unmasked frames do not count
    torch.testing.assert_close(masked_nll_of(logits, changed, mask), want)


def test_masked_training_step_and_nll():
    model = _model(("top", "mid"))
    model.train()
    module = Stage2Module(model, teachers=[TeacherHeadSpec("t", 3, "mse")], levels=("top", "mid"))
    tokens = {lv: t.repeat(2, 1)[:, : 64 * (4 ** i)] for i, (lv, t) in enumerate(_tokens(model, 1.0).items())}
    batch = {"tokens": tokens, "teachers": {"t": torch.randn(2, 64, 3)}}
    module.log = lambda *a, **k: None  # no trainer attached
    loss = module.training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and model.priors["top"].token_emb.weight.grad is not None
    # the bidirectional head reads position t for frame t: no shift
    pred, y = module.teacher_prediction("top", "t", [torch.zeros(2, 64, 32)] * 3, torch.zeros(2, 64, 3))
    assert pred.shape[1] == y.shape[1] == 64
    nll = model.priors["top"].nll(tokens["top"])
    assert torch.equal(nll, model.priors["top"].nll(tokens["top"]))  # a fixed mask: comparable values
    with pytest.raises(ValueError, match="causal prior"):
        model.priors["top"](tokens["top"])
