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
