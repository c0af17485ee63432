"""Stage 1 (HQ-VAE), stage 2 (sparse transformers), checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from booster.checkpoint import CheckpointError, fingerprint, load_checkpoint, save_checkpoint
from booster.pretrain import RandomCrops, load_clips
from hqvae.foundation import CONFIGS, FoundationModel
from hqvae.quantize import StochasticQuantizer
from hqvae.sparse_attention import dense_attention, sparse_attention, sparse_mask


@pytest.fixture(scope="module")
def crops(rendered_corpus):
    files = sorted(rendered_corpus.glob("*/mix.flac"))
    clips, failures = load_clips(files, 22050)
    assert not failures
    return RandomCrops(clips, 4096, seed=0)


def test_micro_model_learns_on_rendered_audio(crops):
    torch.manual_seed(0)
    model = FoundationModel(CONFIGS["micro"]())
    opt = torch.optim.Adam(model.codec.parameters(), lr=2e-3)
    fixed = torch.stack([crops[i] for i in range(8)])
    model.train()

    def eval_loss():
        # the same batch, quantized, fixed noise: compare before and after training
        torch.manual_seed(123)
        with torch.no_grad():
            return model.codec(fixed, 0.5, quantize=True).logs["stft"].item()

    model.codec(fixed, 1.0, quantize=True)  # k-means init of the codebooks
    before = eval_loss()
    for step in range(60):
        batch = torch.stack([crops[8 + 8 * step + j] for j in range(8)])
        out = model.codec(batch, 1.0, quantize=True)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.codec.parameters(), 1.0)
        opt.step()
    after = eval_loss()
    assert after < before * 0.9, (before, after)


def test_stochastic_quantizer_posterior_and_argmax():
    q = StochasticQuantizer(dim=4, codebook_size=3)
    q.codebook.data = torch.tensor([[0.0, 0, 0, 0], [1.0, 1, 1, 1], [-1.0, -1, -1, -1]])
    q.initialised.fill_(True)
    z = torch.tensor([[[0.9, 1.1, 1.0, 0.8], [-1.0, -0.9, -1.2, -1.0], [0.1, 0.0, -0.1, 0.0]]])
    q.eval()
    quantized, idx, loss, stats = q(z)
    assert idx.tolist() == [[1, 2, 0]]
    torch.testing.assert_close(quantized, q.codebook[idx])
    # posterior = softmax(-||z - b||^2 / 2 sigma^2)
    logits = q.logits(z)
    expected = -((z[..., None, :] - q.codebook) ** 2).sum(-1) / (2 * q.variance)
    torch.testing.assert_close(logits, expected)
    assert stats["usage"].item() == 1.0
    # a larger variance flattens the posterior
    q.log_var.data.fill_(5.0)
    assert q.logits(z).softmax(-1).max() < logits.softmax(-1).max()


def test_nearest_code_search_in_chunks_picks_the_closest_code():
    """The fused, chunked search (no ||z||^2 term) picks what the full distance matrix picks, across chunk
    boundaries and for latents far from the origin, where dropping ||z||^2 would matter if it were wrong."""
    torch.manual_seed(0)
    q = StochasticQuantizer(dim=8, codebook_size=64)
    z = 3.0 + torch.randn(2, 1000, 8)
    expected = ((z[..., None, :] - q.codebook) ** 2).sum(-1).argmin(-1)
    for chunk in (1, 7, 333, 4096):
        assert torch.equal(q.nearest(z, chunk=chunk), expected)
    assert q.nearest(z[:, :0]).shape == (2, 0)


@pytest.mark.parametrize("config", ["tiny", "micro"])
def test_codec_reach_is_well_inside_the_extraction_margin(config):
    """Extraction encodes each window with ``Booster.codec_margin_s`` of audio on both sides. Every level's latent
    (through the top-down path, codes passed straight through) must depend on less than half of it, or window
    edges would change tokens."""
    from booster.extract import Booster

    torch.manual_seed(0)
    codec = FoundationModel(CONFIGS[config]()).codec.eval()
    sr = codec.config.sample_rate
    x = codec.pad(0.1 * torch.randn(1, 4 * sr)).requires_grad_()
    feats, top_down, n = codec.encode_bottom_up(x), None, len(codec.levels)
    for i in reversed(range(n)):
        z = codec._latent(i, feats[i], top_down)
        hop, centre = codec.config.hops[codec.levels[n - 1 - i]], z.shape[1] // 2
        # a random projection: the LayerNorm makes a plain sum over dims constant
        (grad,) = torch.autograd.grad((z[:, centre] * torch.randn(z.shape[-1])).sum(), x, retain_graph=True)
        reach = (grad[0].abs() > 0).nonzero().flatten()
        assert len(reach) > hop  # the measure sees something
        radius = max(centre * hop - reach.min().item(), reach.max().item() - centre * hop) / sr
        assert radius < Booster.codec_margin_s / 2, (codec.levels[n - 1 - i], radius)
        q = z + (codec.quantizers[i].embed(codec.quantizers[i].nearest(z)) - z).detach()
        top_down = codec._step_down(i, q, top_down) if i > 0 else None


def test_inference_tokens_are_deterministic(crops):
    model = FoundationModel(CONFIGS["micro"]())
    model.train()
    model.codec(torch.stack([crops[i] for i in range(4)]), 1.0)  # init codebooks and norm stats
    x = torch.stack([crops[100], crops[101]])
    a = model.codec.encode(x)
    b = model.codec.encode(x)
    for level in model.levels:
        assert torch.equal(a[level], b[level])
    assert [a[lv].shape[1] for lv in model.levels] == [4096 // 128, 4096 // 32, 4096 // 8]


def test_save_load_round_trip_is_bit_exact(tmp_path, crops):
    model = FoundationModel(CONFIGS["micro"]())
    model.train()
    model.codec(torch.stack([crops[i] for i in range(4)]), 1.0)
    fp = save_checkpoint(model, tmp_path / "ckpt")
    assert fp == fingerprint(tmp_path / "ckpt") and len(fp) == 64
    loaded = load_checkpoint(tmp_path / "ckpt")
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    x = crops[7][None]
    model.eval()
    for level in model.levels:
        assert torch.equal(model.codec.encode(x)[level], loaded.codec.encode(x)[level])


def test_bad_checkpoints_give_clear_errors(tmp_path):
    model = FoundationModel(CONFIGS["micro"]())
    good = tmp_path / "good"
    save_checkpoint(model, good)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing")
    # corrupt weights
    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "config.json").write_text((good / "config.json").read_text())
    (bad / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    # config of another model size than the weights
    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    cfg = json.loads((good / "config.json").read_text())
    cfg["model"]["codec"]["latent_dim"] = 12
    (mismatch / "config.json").write_text(json.dumps(cfg))
    (mismatch / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(mismatch)
    (mismatch / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(mismatch)


@pytest.mark.parametrize("pattern", ["local", "strided"])
@pytest.mark.parametrize("t", [37, 64])
@pytest.mark.parametrize("causal", [True, False])
def test_sparse_attention_equals_dense_under_same_mask(pattern, t, causal):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, t, 8) for _ in range(3))
    for block, stride, taps in ((8, 8, 3), (8, 4, 4)):
        sparse = sparse_attention(q, k, v, pattern, block, stride, taps, causal=causal)
        dense = dense_attention(q, k, v, sparse_mask(t, pattern, block, stride, taps, causal=causal))
        torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pattern", ["local", "strided"])
def test_bidirectional_attention_gradients_are_finite_with_padding(pattern):
    """37 frames on a grid of 64: whole padded rows, whose queries see no real key."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 37, 8, requires_grad=True) for _ in range(3))
    out = sparse_attention(q, k, v, pattern, 8, 8, 4, causal=False)
    out.square().sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(x.grad).all() for x in (q, k, v))


def test_bidirectional_masks_see_both_ways_with_the_same_reach():
    local = sparse_mask(64, "local", 8, 8, 4, causal=False)
    assert local[20, 31] and local[20, 8] and not local[20, 32] and not local[20, 7]  # blocks 1..3 for row 20
    strided = sparse_mask(64, "strided", 8, 8, 4, causal=False)
    assert [j for j in range(64) if strided[24, j]] == [8, 16, 24, 32, 40]  # i +- m * 8, m <= 2


def test_sparse_attention_is_causal():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 40, 8) for _ in range(3))
    for pattern in ("local", "strided"):
        base = sparse_attention(q, k, v, pattern, 8, 8, 4)
        k2, v2 = k.clone(), v.clone()
        k2[:, :, 30:] += 5.0
        v2[:, :, 30:] += 5.0
        changed = sparse_attention(q, k2, v2, pattern, 8, 8, 4)
        torch.testing.assert_close(base[:, :, :30], changed[:, :, :30])


@pytest.mark.parametrize("block,stride,taps", [(8, 8, 4), (8, 4, 5)])
@pytest.mark.parametrize("cond_ratio", [1, 4])
def test_prior_stream_of_windows_equals_one_pass(block, stride, taps, cond_ratio):
    """Extraction feeds a prior window by window (:class:`PriorStream`, each layer keeping only the past its
    attention reads): the states equal one pass over the whole sequence, whatever the window sizes."""
    from hqvae.prior import PriorConfig, PriorStream, TokenPrior

    torch.manual_seed(0)
    prior = TokenPrior(64, PriorConfig(dim=32, layers=4, heads=2, block=block, stride=stride, taps=taps),
                       cond_codebook_size=16 if cond_ratio > 1 else None, cond_ratio=cond_ratio).eval()
    tokens, cond = torch.randint(0, 64, (2, 500)), torch.randint(0, 16, (2, 500 // cond_ratio))
    full = prior.hidden_states(tokens, cond if cond_ratio > 1 else None)
    for sizes in ([500], [8, 8, 16, 400, 68], [200, 296, 4]):
        stream, pieces, a = PriorStream(prior), [], 0
        for n in sizes:
            pieces.append(stream(tokens[:, a:a + n], cond[:, a // cond_ratio:-(-(a + n) // cond_ratio)]
                                 if cond_ratio > 1 else None))
            a += n
        for j, state in enumerate(full):
            torch.testing.assert_close(torch.cat([p[j] for p in pieces], dim=1), state, atol=1e-5, rtol=1e-5)
        # what each layer keeps is its attention's reach, not the stream
        assert all(kept.shape[1] <= (taps - 1) * stride + 2 * block for _, kept in stream.inputs)
    stream = PriorStream(prior)
    stream(tokens[:, :12], cond[:, :12 // cond_ratio] if cond_ratio > 1 else None)
    with pytest.raises(ValueError, match="only the last window"):
        stream(tokens[:, 12:20], cond[:, 12 // cond_ratio:20 // cond_ratio] if cond_ratio > 1 else None)


def test_prior_learns_a_repeating_sequence():
    torch.manual_seed(0)
    model = FoundationModel(CONFIGS["micro"]())
    prior = model.priors["top"]
    tokens = torch.tensor([[1, 5, 9, 3] * 16])
    opt = torch.optim.Adam(prior.parameters(), lr=3e-3)
    first = prior.nll(tokens).item()
    for _ in range(80):
        loss = prior.nll(tokens)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert prior.nll(tokens).item() < 0.3 * first
    assert np.isclose(first, np.log(32), rtol=0.3)  # starts near uniform over the codebook


def test_stochastic_quantizer_training_samples_codes_from_the_truncated_posterior():
    torch.manual_seed(0)
    q = StochasticQuantizer(dim=8, codebook_size=64, top_k=4, hard=True)
    q.initialised.fill_(True)
    z = (q.codebook.detach()[torch.randint(0, 64, (2, 50))] + 0.05 * torch.randn(2, 50, 8)).requires_grad_()
    q.log_var.data.fill_(-4.0)  # sharp posterior: the sample is the nearest code
    q.train()
    quantized, idx, loss, stats = q(z, temperature=0.5)
    # hard sampling: the decoder sees exact code vectors, here the nearest ones
    torch.testing.assert_close(quantized, q.codebook[idx])
    assert stats["tail_mass"].item() < 1e-4  # the 4 nearest codes hold all the mass
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert q.codebook.grad.abs().sum() > 0 and q.log_var.grad is not None
    # a broad posterior: samples leave the nearest code, the tail outside the top 4 is reported
    q.log_var.data.fill_(3.0)
    quantized, idx, _, stats = q(z.detach(), temperature=0.5)
    assert not torch.allclose(quantized, q.codebook[idx])
    assert stats["tail_mass"].item() > 0.5


def test_dead_codes_restart_at_the_configured_threshold():
    from hqvae.model import HQVAE, HQVAEConfig

    torch.manual_seed(0)
    codec = HQVAE(HQVAEConfig(levels=("top",), strides=((2, 2),), channels=(8,), latent_dim=8, codebook_size=16,
                              restart_threshold=2.0))
    q = codec.quantizers[0]
    assert q.restart_threshold == 2.0
    q.initialised.fill_(True)
    q.usage_ema.fill_(2.0)
    q.train()
    # 40 frames/step all on code 0: every other code has < 2 hits per step and is moved onto a latent
    z = q.codebook.detach()[0].expand(1, 40, 8) + 0.01 * torch.randn(1, 40, 8)
    before = q.codebook.detach().clone()
    q(z)
    moved = ~torch.isclose(q.codebook.detach(), before).all(-1)
    assert moved[1:].all() and not moved[0]
    gaps = (q.codebook.detach()[1:, None] - z[0][None]).abs().amax(-1)  # (codes, frames)
    assert gaps.min(-1).values.max() < 1e-6  # each now sits exactly on a latent of the batch
    # a restarted code starts at the threshold: used >= 2 times in the next step it stays where it is
    assert (q.usage_ema[1:] == 2.0).all()
    q.restart_threshold = 0.1  # and below the old threshold nothing moves
    after = q.codebook.detach().clone()
    q(z)
    torch.testing.assert_close(q.codebook.detach(), after)


def test_soft_em_codebook_moves_codes_to_posterior_weighted_means():
    torch.manual_seed(0)
    q = StochasticQuantizer(4, 8, top_k=8, restart_threshold=0, codebook_decay=0.5).train()
    assert not q.codebook.requires_grad  # soft EM, not the gradient, moves the codes
    q.initialised.fill_(True)
    z = torch.randn(1, 30, 4)
    start = q.codebook.detach().clone()
    posterior = q.logits(z)[0].softmax(-1)  # (frames, K): top_k = K, so the exact posterior
    q(z)
    means = posterior.t() @ z[0] / posterior.sum(0)[:, None]
    # first step: statistics start at the codes with count 1, then one EMA step of decay 0.5
    counts = 0.5 + 0.5 * posterior.sum(0)
    expected = (0.5 * start + 0.5 * posterior.sum(0)[:, None] * means) / counts[:, None]
    torch.testing.assert_close(q.codebook.detach(), expected)
    # repeated on the same latents, the codes settle where the ELBO's Gaussian term is least
    for _ in range(200):
        q(z)
    posterior = q.logits(z)[0].softmax(-1)
    torch.testing.assert_close(q.codebook.detach(), posterior.t() @ z[0] / posterior.sum(0)[:, None],
                               atol=1e-3, rtol=1e-3)
    # a gradient-trained quantizer's weights load into it (its EM statistics start afresh)
    fresh = StochasticQuantizer(4, 8, codebook_decay=0.5)
    fresh.load_state_dict(StochasticQuantizer(4, 8).state_dict())
    assert not fresh.soft_counts.any()


def _reference_truncated_sample(q, z, temperature):
    """The sampler written plainly: gather the k nearest code vectors, distances over them."""
    dist_all = q.squared_distances(z.detach())
    candidates = dist_all.topk(q.top_k, dim=-1, largest=False).indices
    codes = torch.nn.functional.embedding(candidates, q.codebook)  # (batch, time, k, dim)
    dist = (z.unsqueeze(-2) - codes).pow(2).sum(-1)
    soft = torch.nn.functional.gumbel_softmax(-0.5 * dist / q.variance, tau=temperature, hard=q.hard, dim=-1)
    quantized = torch.einsum("btk,btkd->btd", soft, codes)
    kl_logits = -0.5 * dist.detach() / q.variance
    kl = (kl_logits.softmax(-1) * kl_logits.log_softmax(-1)).sum(dim=(1, 2)).mean()
    kl = kl + (0.5 * (z - quantized).pow(2).sum(dim=(1, 2)) / q.variance).mean()
    return quantized, kl


@pytest.mark.parametrize("hard", [True, False])
def test_fast_truncated_sampler_matches_the_plain_formulation(hard):
    torch.manual_seed(1)
    q = StochasticQuantizer(dim=8, codebook_size=64, top_k=6, hard=hard, restart_threshold=0)
    q.initialised.fill_(True)
    q.log_var.data.fill_(-1.0)
    q.train()
    z = torch.randn(3, 40, 8, requires_grad=True)
    grads = []
    for sampler in (lambda: q(z, 0.7)[::2], lambda: _reference_truncated_sample(q, z, 0.7)):
        torch.manual_seed(7)  # same Gumbel noise for both
        quantized, kl = sampler()
        (quantized.pow(2).sum() + quantized.sum() + kl).backward()
        grads.append((quantized.detach(), kl.detach(), z.grad.clone(), q.codebook.grad.clone(), q.log_var.grad.clone()))
        z.grad, q.codebook.grad, q.log_var.grad = None, None, None
    for fast, plain in zip(*grads, strict=True):
        torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)


def test_stage2_checkpoints_hold_the_priors_only():
    from hqvae.lightning import Stage2Module

    module = Stage2Module(FoundationModel(CONFIGS["micro"]()))
    full = {"state_dict": {k: v.clone() for k, v in module.state_dict().items()}}
    module.on_save_checkpoint(full)
    assert full["state_dict"] and not any(k.startswith("model.codec.") for k in full["state_dict"])
    old = {"state_dict": {k: v.clone() for k, v in module.state_dict().items()}}  # written with the codec
    module.on_load_checkpoint(old)
    assert old["state_dict"].keys() == full["state_dict"].keys()
    with pytest.raises(ValueError, match="lacks prior weights"):
        module.on_load_checkpoint({"state_dict": {}})
