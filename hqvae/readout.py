"""A readout stack over the two coarsest levels: where the booster makes pitch linearly readable.

The priors' layer states are trained to predict tokens; even with teacher heads beside that objective
they expose little pitch to a linear probe (docs/results/booster-v2, rounds 4-5), while a small network
reading the same tokens with context on both sides finds it. The readout is that network, inside the
model: it reads, at the top level's frame rate, the code vectors (and optionally chosen prior layers) of
the top level and of the level below (whose frames are folded onto the top grid, ``ratio`` per top frame), and
runs centred convolutions and bidirectional sparse-attention layers over them. It is trained on a teacher's targets
(Basic Pitch notes), and its layer states are booster features (``readout.layer{i}``) like the priors'; so is
its head's output in the teacher's own space (``readout.head``: note and onset probabilities per key), the
form a small downstream model can use with the fewest labels.
The default reads the code vectors alone: fed the priors' states beside them, two readouts trained for 20
minutes did not learn the teacher at all (docs/results/booster-v2, round 6), and without them it needs no
prior pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from hqvae.prior import PriorConfig, TransformerLayer

HEAD_ACTIVATIONS = ("sigmoid", "none")


@dataclass
class ReadoutConfig:
    dim: int = 128
    # centred convolutions (kernel ``kernel``) first: pitch is read from the order of codes over tens of
    # milliseconds, which attention alone (no positions) does not see
    convs: int = 4
    kernel: int = 9
    # then bidirectional sparse-attention layers, alternating block-local and strided
    layers: int = 2
    heads: int = 4
    block: int = 32
    stride: int = 32
    taps: int = 16
    # prior layers read besides the codec's code vectors, at each of the two coarsest levels (0 = the
    # prior's input embedding); () reads the code vectors alone
    source_layers: tuple[int, ...] = ()
    # width of the training head (the teachers' channels, side by side)
    outputs: int = 176
    # how the head's outputs become the feature ``readout.head``: "sigmoid" for a teacher of probabilities
    # (binary cross-entropy), "none" for a regression teacher (mean squared error)
    head_activation: str = "sigmoid"
    # for teachers of both kinds side by side: ``(outputs, activation)`` per run of the head's outputs, in
    # order, summing to ``outputs`` (e.g. ``((176, "sigmoid"), (200, "none"))``); empty: ``head_activation``
    # for every output
    head_segments: tuple[tuple[int, str], ...] = ()

    @classmethod
    def for_prior(cls, prior: PriorConfig, outputs: int) -> ReadoutConfig:
        """A readout sized to a model's priors: their width, heads and attention steps."""
        return cls(dim=prior.dim, heads=prior.heads, block=prior.block, stride=prior.stride, taps=prior.taps,
                   outputs=outputs)

    def prior_config(self) -> PriorConfig:
        """The attention layers' settings: bidirectional, alternating block-local and strided."""
        return PriorConfig(dim=self.dim, layers=self.layers, heads=self.heads, block=self.block,
                           stride=self.stride, taps=self.taps, causal=False)

    def __post_init__(self) -> None:
        if self.head_activation not in HEAD_ACTIVATIONS:
            raise ValueError(f"head_activation must be one of {HEAD_ACTIVATIONS}, got {self.head_activation!r}")
        self.head_segments = tuple((int(n), str(a)) for n, a in self.head_segments)
        bad = [a for _, a in self.head_segments if a not in HEAD_ACTIVATIONS]
        if bad or (self.head_segments and sum(n for n, _ in self.head_segments) != self.outputs):
            raise ValueError(f"head_segments {self.head_segments} must cover the head's {self.outputs} outputs with "
                             f"activations from {HEAD_ACTIVATIONS}")

    def activations(self) -> list[tuple[int, str]]:
        """``(outputs, activation)`` per run of the head's outputs, in order."""
        return list(self.head_segments) or [(self.outputs, self.head_activation)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["source_layers"] = list(self.source_layers)
        d["head_segments"] = [list(seg) for seg in self.head_segments]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ReadoutConfig:
        return cls(**{**d, "source_layers": tuple(d.get("source_layers", ())),
                      "head_segments": tuple(tuple(seg) for seg in d.get("head_segments", ()))})


def fold(x: torch.Tensor, ratio: int, frames: int) -> torch.Tensor:
    """Fine frames onto the coarse grid: ``(batch, fine, dim)`` -> ``(batch, frames, ratio * dim)``, frame
    ``t`` holding fine frames ``t * ratio .. t * ratio + ratio - 1`` (a short tail repeats its last frame)."""
    need = frames * ratio
    if x.shape[1] < need:
        x = torch.cat([x, x[:, -1:].expand(-1, need - x.shape[1], -1)], dim=1)
    return rearrange(x[:, :need], "b (t r) d -> b t (r d)", r=ratio)


class Readout(nn.Module):
    """Convolutions then bidirectional sparse attention over the top level's and the next level's inputs.

    Args:
        cfg: size of the stack.
        prior_dim: width of the priors' states.
        code_dim: width of the codec's code vectors.
        ratio: frames of the second level per top frame.
    """

    def __init__(self, cfg: ReadoutConfig, prior_dim: int, code_dim: int, ratio: int):
        super().__init__()
        self.cfg, self.ratio = cfg, ratio
        width = (len(cfg.source_layers) * prior_dim + code_dim) * (1 + ratio)
        self.in_norm = nn.LayerNorm(width)
        self.convs = nn.ModuleList(nn.Conv1d(width if i == 0 else cfg.dim, cfg.dim, cfg.kernel, padding=cfg.kernel // 2)
                                   for i in range(cfg.convs))
        pcfg = cfg.prior_config()
        self.layers = nn.ModuleList(TransformerLayer(pcfg, pcfg.pattern(i)) for i in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.outputs)

    def inputs(self, top: list[torch.Tensor], below: list[torch.Tensor]) -> torch.Tensor:
        """``top``: code vectors then source-layer states of the top level, each ``(batch, frames, dim)``;
        ``below``: the same of the second level ``(batch, ~frames * ratio, dim)`` -> normalised inputs
        ``(batch, frames, width)`` (per frame: a window's inputs are those of one pass)."""
        frames = top[0].shape[1]
        return self.in_norm(torch.cat([*top, *(fold(b, self.ratio, frames) for b in below)], dim=-1))

    def hidden_states(self, top: list[torch.Tensor], below: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every layer's output ``(batch, frames, dim)`` (1-based, as ``readout.layer{i}``; index 0 the input)."""
        return self.run(self.inputs(top, below))

    @property
    def depth(self) -> int:
        """Layers whose states are features: the convolutions, then the attention layers."""
        return len(self.convs) + len(self.layers)

    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The layers over inputs ``(batch, frames, width)``: ``[x, layer 1, ...]``, each ``(batch, frames, dim)``
        but the first."""
        states = [x]
        for conv in self.convs:
            x = F.gelu(conv(x.transpose(1, 2))).transpose(1, 2)
            states.append(x)
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        return states

    def receptive_frames(self) -> int:
        """Top frames of context on each side that make a window's states equal to one pass (a local layer
        reaches ``2 * block`` frames each way, a strided one ``taps // 2`` strides)."""
        pcfg = self.cfg.prior_config()
        return self.cfg.convs * (self.cfg.kernel // 2) + sum(
            2 * pcfg.block if pcfg.pattern(i) == "local" else pcfg.taps // 2 * pcfg.stride for i in range(self.cfg.layers))

    def logits(self, states: list[torch.Tensor]) -> torch.Tensor:
        """The training head on the last state: ``(batch, frames, outputs)``."""
        return self.head(self.norm(states[-1]))

    def posteriors(self, states: list[torch.Tensor]) -> torch.Tensor:
        """The head's outputs in the teachers' space, ``(batch, frames, outputs)``: the feature ``readout.head``
        (the teachers' channels side by side in training order; for Basic Pitch notes 88 note then 88 onset
        probabilities, keys A0..C8); sigmoid where the teacher gives probabilities, raw where it is a regression."""
        logits = self.logits(states)
        runs = self.cfg.activations()
        if len(runs) == 1:  # one kind of teacher: no split and copy on the extraction path
            return torch.sigmoid(logits) if runs[0][1] == "sigmoid" else logits
        parts = logits.split([n for n, _ in runs], dim=-1)
        return torch.cat([torch.sigmoid(p) if a == "sigmoid" else p for p, (_, a) in zip(parts, runs, strict=True)],
                         dim=-1)

    def loss(self, states: list[torch.Tensor], target: torch.Tensor, kind: str = "bce") -> torch.Tensor:
        """The head's loss against a teacher's targets ``(batch, frames, outputs)``: binary cross-entropy for
        targets in [0, 1] (``"bce"``), else mean squared error (``"mse"``)."""
        return self.losses(states, [target], [kind])[0]

    def losses(self, states: list[torch.Tensor], targets: list[torch.Tensor], kinds: list[str]) -> list[torch.Tensor]:
        """One loss per teacher of a head that predicts several side by side: ``targets[i]`` ``(batch, frames,
        channels_i)`` fills the head's next ``channels_i`` outputs, scored by ``kinds[i]`` ("bce" or "mse"), each
        a mean over its own channels (a teacher of 24 channels weighs as much as one of 176)."""
        pred = self.logits(states)
        widths = [t.shape[-1] for t in targets]
        if sum(widths) != pred.shape[-1]:
            raise ValueError(f"the readout's head has {pred.shape[-1]} outputs, the teachers' targets {widths}")
        out = []
        for p, y, kind in zip(pred.split(widths, dim=-1), targets, kinds, strict=True):
            n = min(p.shape[1], y.shape[1])
            out.append(F.binary_cross_entropy_with_logits(p[:, :n], y[:, :n]) if kind == "bce"
                       else F.mse_loss(p[:, :n], y[:, :n]))
        return out
