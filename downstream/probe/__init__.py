"""``booster probe``: do the booster's features carry musical information a spectrogram does not?

One call, :func:`probe_checkpoint`: render (or reuse) the held-out probe set, extract the
checkpoint's features and those of the same architecture at random weights, and run every
linear probe against the spectrogram baselines (:mod:`downstream.probe.run`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from downstream.probe.probe_set import PROBE_SEED, ProbeSet, ProbeSetConfig, load_probe_set
from downstream.probe.run import ProbeConfig, checks_table, report_table, run_probe, write_markdown

__all__ = ["PROBE_SEED", "ProbeConfig", "ProbeSet", "ProbeSetConfig", "checks_table", "load_probe_set",
           "probe_checkpoint", "report_table", "run_probe", "write_markdown"]


def probe_checkpoint(checkpoint: str | Path, work_dir: str | Path = "build/probe",
                     set_config: ProbeSetConfig | None = None, config: ProbeConfig | None = None,
                     features: list[str] | None = None, random_seed: int = 0, references: list[str] | None = None,
                     say: Callable[[str], None] = print,
                     progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Probe ``checkpoint`` (a checkpoint folder) on the probe set kept under ``work_dir``.

    ``references``: teachers (:mod:`booster.teachers`) whose outputs are probed too, as ``ref:<name>``.
    ``progress(stage, done, total)`` is called as tracks are extracted. Returns the results dict
    (see :func:`downstream.probe.run.run_probe`), with the checkpoint's fingerprint.
    """
    from booster.checkpoint import fingerprint
    from downstream.inputs import random_checkpoint
    from downstream.probe.representations import booster_frames, teacher_frames

    work = Path(work_dir)
    ps = load_probe_set(work / "set", set_config, say)
    fp = fingerprint(checkpoint)
    control = random_checkpoint(checkpoint, work / f"random-{fp[:12]}-seed{random_seed}", random_seed)
    feats = {}
    for label, ckpt in (("booster", checkpoint), ("random", control)):
        done = 0

        def tick(n: int, label=label) -> None:
            nonlocal done
            done += n
            if progress:
                progress(label, done, len(ps.ids))

        feats[label] = booster_frames(ps, ckpt, features, work / "cache", progress=tick)
    refs = teacher_frames(ps, references, work / "cache") if references else None
    results = run_probe(ps, feats["booster"], feats["random"], config, say, refs)
    results["checkpoint"] = {"path": str(checkpoint), "fingerprint": fp, "random_seed": random_seed}
    return results
