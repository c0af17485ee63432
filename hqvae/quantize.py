"""Quantizers. Every one returns ``(quantized, indices, loss, stats)`` the same way.

:class:`StochasticQuantizer` is the Gaussian stochastic quantizer of SQ-VAE / HQ-VAE
(Takida et al. 2022, 2024): the posterior over codes is
``softmax(-||z - b_k||^2 / (2 sigma^2))`` with a learnable variance ``sigma^2``; training
draws a Gumbel-softmax relaxation of it, inference takes the argmax. The variance is a
parameter of the ELBO, so it shrinks by itself as the codebook fits ("self-annealing"),
and no commitment loss or EMA trick is needed against collapse.

:class:`VQBaseline` wraps ``vector_quantize_pytorch.VectorQuantize`` (EMA codebook, k-means
init, dead-code expiry) with the same interface for the VQ-VAE-2 style baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

# vector_quantize_pytorch is imported where it is used (k-means init, the VQ baseline): importing it pulls in
# torch._dynamo through einx, 1.5 s that every extraction process (each cache worker, each CLI call) paid


def codebook_stats(indices: torch.Tensor, codebook_size: int) -> dict[str, torch.Tensor]:
    """Usage (fraction of codes used) and perplexity of a batch of indices."""
    counts = torch.bincount(indices.flatten(), minlength=codebook_size).float()
    probs = counts / counts.sum().clamp(min=1)
    entropy = -(probs * probs.clamp(min=1e-12).log()).sum()
    return {"usage": (counts > 0).float().mean(), "perplexity": entropy.exp()}


class StochasticQuantizer(nn.Module):
    """Gaussian SQ with learnable variance.

    Args:
        dim: latent dimension.
        codebook_size: number of codes K.
        init_log_var: starting ``log sigma^2``; the ELBO drives it down during training.
    """

    def __init__(self, dim: int, codebook_size: int, init_log_var: float = 0.0, restart_threshold: float = 0.1,
                 top_k: int | None = 16, hard: bool = True, codebook_decay: float = 0.0):
        super().__init__()
        self.dim = dim
        self.codebook_size = codebook_size
        self.restart_threshold = restart_threshold
        self.top_k = top_k
        self.hard = hard
        self.codebook_decay = codebook_decay
        self.codebook = nn.Parameter(torch.randn(codebook_size, dim), requires_grad=codebook_decay == 0)
        self.log_var = nn.Parameter(torch.tensor(float(init_log_var)))
        self.register_buffer("initialised", torch.tensor(False))
        self.register_buffer("usage_ema", torch.ones(codebook_size))
        if codebook_decay:  # EMA of the posterior's soft counts and responsibility-weighted latent sums
            self.register_buffer("soft_counts", torch.zeros(codebook_size))
            self.register_buffer("soft_sums", torch.zeros(codebook_size, dim))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint trained with gradient-moved codes has no EM statistics: they start afresh
        # from the codes on the first training step
        if self.codebook_decay:
            for name in ("soft_counts", "soft_sums"):
                state_dict.setdefault(prefix + name, torch.zeros_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def restart_dead_codes(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """Jukebox-style random restarts: a code whose EMA hit count fell below ``restart_threshold``
        (per step) is moved onto a random latent of the batch, so a code abandoned early in a short
        CPU run gets another chance instead of staying dead."""
        counts = torch.bincount(indices.flatten(), minlength=self.codebook_size).float()
        self.usage_ema.mul_(0.95).add_(counts, alpha=0.05)
        dead = self.usage_ema < self.restart_threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        flat = z.reshape(-1, self.dim)
        pick = torch.randint(0, flat.shape[0], (n_dead,), device=z.device)
        self.codebook.data[dead] = flat[pick]
        if self.codebook_decay:  # the restarted code's EMA statistics start at the new position
            self.soft_counts[dead] = 1.0
            self.soft_sums[dead] = flat[pick]
        # a restarted code starts at the threshold (at least one hit per step): it survives the next
        # step only if the batch uses it, as vector-quantize-pytorch resets its expired codes
        self.usage_ema[dead] = max(1.0, self.restart_threshold)

    @property
    def variance(self) -> torch.Tensor:
        return self.log_var.exp().clamp(min=1e-6)

    @torch.no_grad()
    def init_from(self, z: torch.Tensor) -> None:
        """k-means init of the codebook from encoder outputs ``(batch, time, dim)``."""
        from vector_quantize_pytorch.vector_quantize_pytorch import kmeans

        flat = rearrange(z, "b t d -> 1 (b t) d").float()
        means, _ = kmeans(flat, self.codebook_size, num_iters=10)
        self.codebook.data.copy_(means[0])
        self.initialised.fill_(True)

    def squared_distances(self, z: torch.Tensor, codebook: torch.Tensor | None = None) -> torch.Tensor:
        """``||z - b_k||^2`` for ``z`` ``(batch, time, dim)`` -> ``(batch, time, K)``."""
        codebook = self.codebook if codebook is None else codebook
        return (z.pow(2).sum(-1, keepdim=True) - 2 * z @ codebook.t()
                + codebook.pow(2).sum(-1)[None, None])

    def logits(self, z: torch.Tensor, codebook: torch.Tensor | None = None) -> torch.Tensor:
        """``-||z - b_k||^2 / (2 sigma^2)`` for ``z`` ``(batch, time, dim)`` -> ``(batch, time, K)``."""
        return -0.5 * self.squared_distances(z, codebook) / self.variance

    def forward(self, z: torch.Tensor, temperature: float = 1.0):
        """``z``: (batch, time, dim). Returns quantized (batch, time, dim), indices (batch, time),
        the KL term per batch item (summed over time and dims, averaged over the batch), and stats.

        Training draws the Gumbel-softmax sample over the ``top_k`` nearest codes of each frame
        (the posterior truncated to them and renormalised): far codes carry almost no posterior
        mass (``stats["tail_mass"]`` logs how much), and the full-codebook relaxation cost 2.5x a
        VQ step on CPU (Gumbel noise, softmaxes and their backward over every code); now ~1.15x.
        """
        if self.training and not bool(self.initialised):
            self.init_from(z.detach())
        stats = {}
        if not self.training:
            indices = self.nearest(z)
            quantized, loss = F.embedding(indices, self.codebook), z.new_zeros(())
        else:
            quantized, indices, loss, stats["tail_mass"] = self._sample(z, temperature)
        if self.training and self.restart_threshold > 0:
            self.restart_dead_codes(z.detach(), indices)
        stats.update(codebook_stats(indices, self.codebook_size))
        stats["variance"] = self.variance.detach()
        return quantized, indices, loss, stats

    def _sample(self, z: torch.Tensor, temperature: float):
        """Training path: ``(quantized, indices, kl, tail_mass)`` for ``z`` (batch, time, dim).

        Everything per frame and code is a matrix product over the flattened frames: the cross
        terms ``z . b_k`` for all codes (one matmul, reused for ranking and, gathered, for the exact
        differentiable distances to the candidates), and the sample scattered into a
        (frames, K) weight matrix times the codebook. Gathering the candidates' code vectors
        instead made (frames, k, dim) tensors whose ops and backward cost more than the codec.
        """
        batch, time, dim = z.shape
        flat = z.reshape(-1, dim)  # (frames, dim)
        cross = flat @ self.codebook.t()  # (frames, K)
        code_norms = self.codebook.pow(2).sum(-1)  # (K,)
        with torch.no_grad():  # ranks codes by distance (||z||^2 is the same for every code)
            rank_score = code_norms - 2 * cross.detach()
        k = min(self.top_k or self.codebook_size, self.codebook_size)
        candidates = rank_score.topk(k, dim=-1, largest=False).indices  # (frames, k), nearest first
        indices = candidates[:, 0].reshape(batch, time)
        latent_norms = flat.pow(2).sum(-1, keepdim=True)  # (frames, 1)
        dist = latent_norms - 2 * cross.gather(1, candidates) + code_norms[candidates]
        logits = -0.5 * dist / self.variance  # exact and differentiable, (frames, k)
        soft = F.gumbel_softmax(logits, tau=temperature, hard=self.hard, dim=-1)
        weights = torch.zeros_like(cross).scatter(1, candidates, soft)  # (frames, K)
        if self.codebook_decay:
            self._em_update(flat.detach(), candidates, logits.detach().softmax(-1))
        quantized = (weights @ self.codebook).reshape(batch, time, dim)
        # The entropy part of the KL reaches only the variance: through the codes or the latents
        # it is maximised by merging everything into one spot (a uniform posterior), which on a
        # small CPU budget collapses the coarse levels before reconstruction can pull them apart.
        kl_logits = -0.5 * dist.detach() / self.variance
        # KL(q(k|z) || uniform) up to a constant, plus the Gaussian term between z and its code
        kl_discrete = (kl_logits.softmax(-1) * kl_logits.log_softmax(-1)).sum() / batch
        kl_continuous = 0.5 * (z - quantized).pow(2).sum() / self.variance / batch
        with torch.no_grad():  # posterior mass outside the top k
            all_logits = -0.5 * (rank_score + latent_norms) / self.variance
            tail_mass = (1 - (kl_logits.logsumexp(-1) - all_logits.logsumexp(-1)).exp()).mean()
        return quantized, indices, kl_discrete + kl_continuous, tail_mass

    @torch.no_grad()
    def _em_update(self, flat: torch.Tensor, candidates: torch.Tensor, posterior: torch.Tensor) -> None:
        """Soft-EM codebook step: each code moves (EMA) toward the posterior-weighted mean of the latents,
        ``b_k = sum_n q(k|z_n) z_n / sum_n q(k|z_n)``, the codebook that maximises the ELBO's Gaussian term
        for the current posterior (the M-step of the mixture the stochastic quantizer is). ``flat``
        (frames, dim); ``candidates`` and ``posterior`` (frames, k)."""
        resp = torch.zeros(flat.shape[0], self.codebook_size, device=flat.device).scatter(1, candidates, posterior)
        if not bool(self.soft_counts.any()):  # first step: start the statistics at the current codes
            self.soft_counts.fill_(1.0)
            self.soft_sums.copy_(self.codebook.data)
        decay = self.codebook_decay
        self.soft_counts.mul_(decay).add_(resp.sum(0), alpha=1 - decay)
        self.soft_sums.mul_(decay).add_(resp.t() @ flat, alpha=1 - decay)
        self.codebook.data.copy_(self.soft_sums / self.soft_counts.clamp(min=1e-5)[:, None])

    def nearest(self, z: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Inference indices (batch, time): the posterior's argmax, i.e. the nearest code.

        ``argmin_k ||z - b_k||^2 = argmin_k (||b_k||^2 / 2 - z . b_k)``: ``||z||^2`` is the same for every
        code, so it is left out, and the scores are one fused ``addmm`` per ``chunk`` frames, small enough
        to stay in cache. The finest level's search was 16 % of `booster cache`'s time on one thread; this
        is 2-4x faster and picks the same codes (test)."""
        flat = z.reshape(-1, z.shape[-1])
        half_norms = 0.5 * self.codebook.pow(2).sum(-1)
        codes_t = self.codebook.t()
        picks = [torch.addmm(half_norms, rows, codes_t, alpha=-1).argmin(dim=-1) for rows in flat.split(chunk)]
        return (torch.cat(picks) if picks else flat.new_zeros(0, dtype=torch.long)).reshape(z.shape[:-1])

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes for ``indices`` (batch, time) -> (batch, time, dim)."""
        return F.embedding(indices, self.codebook)


class VQBaseline(nn.Module):
    """Deterministic VQ (EMA codebook, k-means init, dead-code expiry) for the baseline."""

    def __init__(self, dim: int, codebook_size: int, commitment_weight: float = 0.25):
        super().__init__()
        self.dim = dim
        self.codebook_size = codebook_size
        from vector_quantize_pytorch import VectorQuantize

        self.vq = VectorQuantize(dim=dim, codebook_size=codebook_size, decay=0.99, kmeans_init=True,
                                 kmeans_iters=10, threshold_ema_dead_code=2,
                                 commitment_weight=commitment_weight)

    def forward(self, z: torch.Tensor, temperature: float = 1.0):
        quantized, indices, loss = self.vq(z)
        loss = loss.sum()  # mean commitment loss per latent element
        stats = codebook_stats(indices, self.codebook_size)
        return quantized, indices, loss, stats

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Inference indices (batch, time) of the nearest codes (call in eval mode: no EMA update)."""
        return self.vq(z)[1]

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        return self.vq.get_codes_from_indices(indices)


QUANTIZERS = {"sq": StochasticQuantizer, "vq": VQBaseline}
