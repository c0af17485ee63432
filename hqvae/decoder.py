"""Waveform decoder stages: transposed-conv upsampling mirrors of the encoder stages."""

from __future__ import annotations

from torch import nn

from hqvae.modules import residual_stack


class DecoderStage(nn.Module):
    """Upsample ``(batch, in_ch, time)`` -> ``(batch, out_ch, time * prod(strides))``."""

    def __init__(self, in_channels: int, out_channels: int, strides: tuple[int, ...], final: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_channels
        for i, s in enumerate(strides):
            last = i == len(strides) - 1
            nxt = max(out_channels, ch // 2) if not last else (ch if final else out_channels)
            layers += [nn.ELU(), nn.ConvTranspose1d(ch, nxt, 2 * s, stride=s, padding=s // 2),
                       residual_stack(nxt)]
            ch = nxt
        if final:  # waveform head
            layers += [nn.ELU(), nn.Conv1d(ch, out_channels, 7, padding=3)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
