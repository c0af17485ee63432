"""Small statistics shared by the benchmarks and the experiments."""

from __future__ import annotations

import numpy as np


def paired_ci95(diffs: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of a paired t confidence interval (95%) of ``diffs`` (n,); NaN half-width for n < 2."""
    from scipy import stats

    diffs = np.asarray(diffs, dtype=np.float64)
    if len(diffs) < 2:
        return float(diffs.mean()), float("nan")
    half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    return float(diffs.mean()), float(half)


def paired_reconstruction(ours: dict, theirs: dict) -> dict:
    """HQ-VAE minus baseline per held-out clip: ``metric -> {"mean", "ci95_half", "clips_better"}``.

    The clips differ far more from each other than the codecs do on one clip, so the comparison
    is paired; "better" is higher SI-SDR and lower MR-STFT distance.
    """
    out = {}
    for metric, sign in (("si_sdr_db", 1.0), ("mr_stft", -1.0)):
        diffs = np.array(ours["per_clip"][metric]) - np.array(theirs["per_clip"][metric])
        mean, half = paired_ci95(diffs)
        out[metric] = {"mean": mean, "ci95_half": half, "clips_better": int((sign * diffs > 0).sum()),
                       "clips": len(diffs)}
    return out


def paired_sentences(paired: dict) -> list[str]:
    """One sentence per metric of a :func:`paired_reconstruction` result."""
    out = []
    for metric, name in (("si_sdr_db", "SI-SDR dB"), ("mr_stft", "MR-STFT distance")):
        d = paired[metric]
        out.append(f"HQ-VAE - VQ baseline, {name}, paired over the {d['clips']} clips: {d['mean']:+.3f} "
                   f"(95% CI +- {d['ci95_half']:.3f}); HQ-VAE better on {d['clips_better']} of {d['clips']}.")
    return out
