"""Waveform encoder: one strided stage per quantization level (coarse levels see longer hops)."""

from __future__ import annotations

from torch import nn

from hqvae.modules import residual_stack


class EncoderStage(nn.Module):
    """Downsample ``(batch, in_ch, time)`` -> ``(batch, out_ch, time / prod(strides))``."""

    def __init__(self, in_channels: int, out_channels: int, strides: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_channels
        for i, s in enumerate(strides):
            nxt = out_channels if i == len(strides) - 1 else max(ch, out_channels // 2)
            layers += [residual_stack(ch) if ch >= 8 else nn.Identity(), nn.ELU(),
                       nn.Conv1d(ch, nxt, 2 * s, stride=s, padding=s // 2)]
            ch = nxt
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
