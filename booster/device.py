"""One check of a ``--device`` string for every command that takes one (``booster cache``, ``booster pretrain``)."""

from __future__ import annotations


def check_device(device: str, fallback: str) -> str:
    """``device`` if it is ``cpu``, or ``cuda`` / ``cuda:N`` naming a GPU torch sees; else ValueError with one line
    that says what torch sees and ``fallback`` (what to do instead, e.g. "cache with --device cpu")."""
    if device == "cpu":
        return device
    kind, _, index = device.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"--device must be cpu, cuda or cuda:N (got {device!r})")
    import torch  # here, so that the CLI's argument checks do not load torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count or (index and int(index) >= count):
        raise ValueError(f"--device {device!r}: torch sees {count} CUDA device(s) here (a CPU build of torch, "
                         f"or no GPU); {fallback}, or name one of the GPUs torch sees")
    return device


#: ``--precision`` choices: ``float32`` everywhere (exact), ``bfloat16`` autocast for the priors' layers (the
#: codec stays float32: in bfloat16 5-7 % of its tokens change), ``auto`` = bfloat16 where the device computes it
#: natively (a CPU with AMX or AVX512-BF16, a CUDA GPU that supports it), else float32
PRECISIONS = ("auto", "float32", "bfloat16")


def native_bf16(device: str) -> bool:
    """Whether ``device`` runs bfloat16 matmuls natively. Where it does not, bfloat16 is emulated and slower than
    float32 (measured: the mid prior 84x -> 38x realtime on an AVX2 CPU; ``docs/feature-store.md``)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))


def resolve_precision(precision: str, device: str) -> str:
    """``float32`` or ``bfloat16`` for a :data:`PRECISIONS` entry on ``device`` (``auto``: :func:`native_bf16`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    if precision == "auto":
        return "bfloat16" if native_bf16(device) else "float32"
    return precision
