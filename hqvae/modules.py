"""Conv building blocks shared by the encoder and decoder (EnCodec/SEANet style, non-causal)."""

from __future__ import annotations

from torch import nn


class ResidualUnit(nn.Module):
    """Dilated conv residual unit: ``x + conv1x1(elu(conv3_dilated(elu(x))))``. Shape-preserving."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(), nn.Conv1d(channels, channels // 2, 3, dilation=dilation, padding=dilation),
            nn.ELU(), nn.Conv1d(channels // 2, channels, 1),
        )

    def forward(self, x):
        return x + self.block(x)


def residual_stack(channels: int, dilations: tuple[int, ...] = (1, 3)) -> nn.Sequential:
    return nn.Sequential(*[ResidualUnit(channels, d) for d in dilations])
