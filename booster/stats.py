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
