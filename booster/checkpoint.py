"""Checkpoints: a folder with ``config.json`` + ``model.safetensors``.

Loading never unpickles: the config is JSON, the weights safetensors, and every tensor's
name and shape is checked against the model the config builds before anything is loaded.
The fingerprint (sha256 over both files) identifies a model in feature caches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hqvae.foundation import FoundationConfig, FoundationModel

FORMAT = "mfm-booster/1"
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
DEFAULT_CHECKPOINT = Path(__file__).parent / "weights" / "default"
#: the VQ-VAE-2-style baseline that `booster bench model` compares the default model with
BASELINE_CHECKPOINT = DEFAULT_CHECKPOINT.parent / "vq-baseline"


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded; the message names the folder and the fix."""


def fingerprint(directory: str | Path) -> str:
    """sha256 over ``config.json`` then ``model.safetensors``."""
    directory = Path(directory)
    h = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        with open(directory / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def save_checkpoint(model: FoundationModel, directory: str | Path, extra: dict | None = None) -> str:
    """Write the checkpoint (atomically per file) and return its fingerprint."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "model": model.config.to_dict(), "extra": extra or {}}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp_cfg, tmp_w = directory / (CONFIG_FILE + ".tmp"), directory / (WEIGHTS_FILE + ".tmp")
    tmp_cfg.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(state, str(tmp_w), metadata={"format": FORMAT})
    tmp_cfg.replace(directory / CONFIG_FILE)
    tmp_w.replace(directory / WEIGHTS_FILE)
    return fingerprint(directory)


def read_config(directory: str | Path) -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: checkpoint folder not found (expected a folder with "
                              f"{CONFIG_FILE} and {WEIGHTS_FILE})")
    path = directory / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{directory}: no {CONFIG_FILE}; is this a checkpoint folder?")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}); the checkpoint is corrupt") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {config.get('format') if isinstance(config, dict) else None!r}"
                              f" is not {FORMAT!r}; not an mfm-booster checkpoint")
    return config


def load_checkpoint(directory: str | Path = DEFAULT_CHECKPOINT) -> FoundationModel:
    """Build the model its config describes and load its weights, validating names and shapes."""
    directory = Path(directory)
    config = read_config(directory)
    try:
        model = FoundationModel(FoundationConfig.from_dict(config["model"]))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{directory / CONFIG_FILE}: invalid model config ({err})") from None
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise CheckpointError(f"{directory}: no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: unreadable weights ({err}); the file is corrupt or truncated") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = "; ".join(filter(None, [
            f"missing {missing[:3]}" if missing else "",
            f"unexpected {unexpected[:3]}" if unexpected else "",
            f"shape mismatch {[(k, tuple(state[k].shape), tuple(expected[k].shape)) for k in wrong[:3]]}"
            if wrong else ""]))
        raise CheckpointError(f"{directory}: weights do not match {CONFIG_FILE} ({details}); "
                              "config and weights come from different models")
    model.load_state_dict(state)
    model.eval()
    return model


def checkpoint_size_bytes(directory: str | Path) -> int:
    return sum((Path(directory) / n).stat().st_size for n in (CONFIG_FILE, WEIGHTS_FILE))

