"""Paired comparisons used by `booster bench model` and the experiments' summaries."""

from __future__ import annotations

import numpy as np
import pytest

from booster.stats import paired_ci95, paired_reconstruction, paired_sentences


def test_paired_ci95_is_the_t_interval():
    mean, half = paired_ci95(np.array([1.0, 1.0, -0.5]))
    assert mean == pytest.approx(0.5)
    # t(0.975, 2 dof) = 4.3027; sample std of the diffs = 0.8660
    assert half == pytest.approx(4.3027 * 0.8660 / np.sqrt(3), rel=1e-3)
    mean, half = paired_ci95(np.array([2.0]))
    assert mean == 2.0 and np.isnan(half)


def test_paired_reconstruction_counts_clips_where_ours_is_better():
    ours = {"per_clip": {"si_sdr_db": [10.0, 12.0, 9.0], "mr_stft": [2.0, 2.0, 2.0]}}
    theirs = {"per_clip": {"si_sdr_db": [9.0, 11.0, 9.5], "mr_stft": [2.1, 1.9, 2.5]}}
    r = paired_reconstruction(ours, theirs)
    assert r["si_sdr_db"]["mean"] == pytest.approx(0.5) and r["si_sdr_db"]["clips_better"] == 2
    # lower distance is better: ours wins on clips 0 and 2
    assert r["mr_stft"]["mean"] == pytest.approx((-0.1 + 0.1 - 0.5) / 3) and r["mr_stft"]["clips_better"] == 2
    assert r["mr_stft"]["clips"] == 3
    sdr_line = paired_sentences(r)[0]
    assert "SI-SDR dB" in sdr_line and "+0.500" in sdr_line and "better on 2 of 3" in sdr_line
