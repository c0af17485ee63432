"""Plug booster features into any existing ``nn.Module`` through hooks.

``inject(model, "submodule.name", dim, mode=...)`` adds a small fusion module to ``model``
(so ``model.parameters()`` and checkpoints include it) and a hook on the named submodule:
the features ``(batch, frames, dim)`` are projected, time-aligned to the hooked tensor's last
axis (``(batch, channels, ..., time)``), and fused by ``add``, ``concat`` (+ projection back)
or ``film``. The model's code is untouched, so it trains end to end and runs inside
``demucs.apply.apply_model``, Lightning or a user's loop unchanged.

Features come either from ``handle.set(feats)`` / ``with handle.using(feats):`` or, in
*self-conditioning* mode, from ``provider(model_input) -> (batch, frames, dim)`` called inside
the model's own forward on its own input (each chunk ``apply_model`` feeds it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
from einops import rearrange
from torch import nn

from booster.align import resample_frames

MODES = ("add", "concat", "film")


class FeatureFusion(nn.Module):
    """Fuse features ``(batch, frames, dim)`` into ``h`` ``(batch, channels, *mid, time)``."""

    def __init__(self, dim: int, channels: int, mode: str = "add", zero_init: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.mode, self.channels = mode, channels
        self.drop = nn.Dropout(dropout)  # on the features only, in training: the model's own path is untouched
        self.proj = nn.Linear(dim, 2 * channels if mode == "film" else channels)
        if mode == "concat":
            self.merge = nn.Linear(2 * channels, channels)
            with torch.no_grad():  # start as "keep h, add the projected features"
                self.merge.weight.zero_()
                self.merge.weight[:, :channels].copy_(torch.eye(channels))
                self.merge.weight[:, channels:].copy_(torch.eye(channels))
                self.merge.bias.zero_()
        if zero_init:  # the wrapped model starts out exactly as it was
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        if h.shape[1] != self.channels:
            raise ValueError(f"hooked tensor has {h.shape[1]} channels, fusion was built for {self.channels}")
        if feats.shape[0] != h.shape[0]:
            if feats.shape[0] == 1:
                feats = feats.expand(h.shape[0], -1, -1)
            else:
                raise ValueError(f"features for batch {feats.shape[0]}, model batch is {h.shape[0]}")
        # align frames to the hooked tensor's time axis: averaged going down, interpolated going up
        f = rearrange(self.proj(self.drop(resample_frames(feats.to(h.dtype), h.shape[-1]))), "b t c -> b c t")
        f = f.reshape(f.shape[0], f.shape[1], *([1] * (h.ndim - 3)), f.shape[-1])  # broadcast over mid axes
        if self.mode == "add":
            return h + f
        if self.mode == "film":
            gamma, beta = f.chunk(2, dim=1)
            return h * (1 + gamma) + beta
        both = torch.cat([h, f.expand_as(h)], dim=1)
        return rearrange(self.merge(rearrange(both, "b c ... -> b ... c")), "b ... c -> b c ...")


class InjectionHandle:
    """Controls one injection: give features, or remove it (the fusion module goes too)."""

    def __init__(self, model: nn.Module, name: str, fusions: nn.ModuleList, provider=None):
        self.model, self.name, self.fusions, self.provider = model, name, fusions, provider
        self.features: torch.Tensor | None = None
        self._input = None
        self._hooks: list = []

    def set(self, feats: torch.Tensor | None) -> None:
        """Features ``(batch, frames, dim)`` for the following forward calls (None clears them)."""
        self.features = feats

    @contextmanager
    def using(self, feats: torch.Tensor):
        old = self.features
        self.features = feats
        try:
            yield self
        finally:
            self.features = old

    def current(self) -> torch.Tensor:
        if self.provider is not None:
            if self._input is None:
                raise RuntimeError("self-conditioning injection saw no model input")
            return self.provider(self._input)
        if self.features is None:
            raise RuntimeError(f"no booster features set for injection at {self.name!r}: call handle.set(feats) "
                               "or pass provider= to inject")
        return self.features

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        attr = _attr_name(self.name)
        if hasattr(self.model, attr):
            delattr(self.model, attr)


def _attr_name(name: str) -> str:
    return "booster_fusion_" + name.replace(".", "_")


def inject(
    model: nn.Module,
    name: str,
    dim: int,
    mode: str = "add",
    channels: int | list[int] | None = None,
    at: str = "output",
    provider: Callable[[torch.Tensor], torch.Tensor] | None = None,
    zero_init: bool = False,
    dropout: float = 0.0,
) -> InjectionHandle:
    """Attach booster features of size ``dim`` to submodule ``name`` of ``model``.

    Args:
        at: ``"output"`` fuses into the submodule's output; ``"input"`` into each of its tensor
            arguments (for HTDemucs' ``crosstransformer`` that is both ``x`` ``(B, C, F, T1)`` and
            ``xt`` ``(B, C, T2)``, each with its own projection).
        channels: channel count (dim 1) of the fused tensor(s); one per tensor argument for
            ``at="input"``. Inferred from ``out_channels``/``out_features`` when omitted.
        provider: self-conditioning: called on the model's first forward argument to compute features.
        zero_init: start with a zero projection so the model's output is unchanged until trained.
        dropout: drop this fraction of the feature values in training (``nn.Dropout``), so that the model
            cannot lean on any few of them; no effect in ``eval()``.
    """
    try:
        target = model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"{type(model).__name__} has no submodule {name!r}") from None
    if at not in ("output", "input"):
        raise ValueError(f"at must be 'output' or 'input', got {at!r}")
    if channels is None:
        inferred = getattr(target, "out_channels", None) or getattr(target, "out_features", None)
        if inferred is None:
            raise ValueError(f"cannot infer the channel count of {name!r}: pass channels=")
        channels = inferred
    chans = list(channels) if isinstance(channels, list | tuple) else [channels]
    fusions = nn.ModuleList(FeatureFusion(dim, c, mode, zero_init, dropout) for c in chans)
    if hasattr(model, _attr_name(name)):
        raise ValueError(f"{name!r} already has an injection; remove it first")
    model.add_module(_attr_name(name), fusions)
    handle = InjectionHandle(model, name, fusions, provider)

    if provider is not None:
        def remember_input(_module, args):
            handle._input = args[0]
        handle._hooks.append(model.register_forward_pre_hook(remember_input))

    if at == "output":
        def fuse_output(_module, _args, output):
            return fusions[0](output, handle.current())
        handle._hooks.append(target.register_forward_hook(fuse_output))
    else:
        def fuse_inputs(_module, args):
            feats = handle.current()
            tensors = [i for i, a in enumerate(args) if torch.is_tensor(a) and a.ndim >= 3]
            if len(tensors) != len(fusions):
                raise ValueError(f"{name!r} got {len(tensors)} tensor inputs, injection has {len(fusions)} "
                                 "channel counts: pass one per input in channels=")
            args = list(args)
            for fusion, i in zip(fusions, tensors, strict=True):
                args[i] = fusion(args[i], feats)
            return tuple(args)
        handle._hooks.append(target.register_forward_pre_hook(fuse_inputs))
    return handle


def booster_provider(booster, feature: str, sample_rate: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Self-conditioning features: for a model input ``(batch, channels, samples)`` at ``sample_rate``,
    extract ``feature`` from each item with ``booster`` -> ``(batch, frames, dim)`` (no gradient)."""

    def provide(x: torch.Tensor) -> torch.Tensor:
        feats = [booster.extract(item.detach().cpu(), sample_rate, features=[feature]).features[feature]
                 for item in x]
        return torch.stack(feats).to(x.device)

    return provide
