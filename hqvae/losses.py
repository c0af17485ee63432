"""Reconstruction losses and metrics for waveforms ``(batch, samples)``."""

from __future__ import annotations

import torch


def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)
    return spec.abs().clamp(min=1e-7)


def multi_resolution_stft(x_hat: torch.Tensor, x: torch.Tensor,
                          ffts: tuple[int, ...] = (256, 512, 1024, 2048)) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over FFT sizes (hop = n_fft / 4)."""
    total = x.new_zeros(())
    for n_fft in ffts:
        mag_hat, mag = stft_magnitude(x_hat, n_fft, n_fft // 4), stft_magnitude(x, n_fft, n_fft // 4)
        sc = torch.linalg.norm(mag - mag_hat, dim=(-2, -1)) / torch.linalg.norm(mag, dim=(-2, -1)).clamp(min=1e-7)
        log_l1 = (mag.log() - mag_hat.log()).abs().mean(dim=(-2, -1))
        total = total + (sc + log_l1).mean()
    return total / len(ffts)


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per item of ``(batch, samples)``."""
    reference = reference - reference.mean(-1, keepdim=True)
    estimate = estimate - estimate.mean(-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + eps)
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10(target.pow(2).sum(-1).clamp(min=eps) / noise.pow(2).sum(-1).clamp(min=eps))
