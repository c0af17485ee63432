"""The fields' metrics: tagging (scikit-learn AUCs) and transcription (``mir_eval``)."""

from __future__ import annotations

import mir_eval
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def tagging_scores(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Macro ROC-AUC and PR-AUC over tags ``(clips, tags)``; tags with only one class in ``y_true``
    are skipped (their AUC is undefined), and how many were scored is reported."""
    keep = [k for k in range(y_true.shape[1]) if 0 < y_true[:, k].sum() < len(y_true)]
    if not keep:
        return {"roc_auc": float("nan"), "pr_auc": float("nan"), "tags_scored": 0}
    return {"roc_auc": float(roc_auc_score(y_true[:, keep], y_score[:, keep], average="macro")),
            "pr_auc": float(average_precision_score(y_true[:, keep], y_score[:, keep], average="macro")),
            "tags_scored": len(keep)}


def notes_to_arrays(notes: list[tuple[float, float, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``[(onset_s, offset_s, midi_pitch)]`` -> mir_eval's ``intervals (n, 2)`` and ``pitches`` in Hz."""
    if not notes:
        return np.zeros((0, 2)), np.zeros(0)
    arr = np.asarray(notes, dtype=np.float64)
    return arr[:, :2], mir_eval.util.midi_to_hz(arr[:, 2])


def note_scores(reference: list[tuple[float, float, int]], estimate: list[tuple[float, float, int]]) -> dict:
    """Note precision/recall/F1 with ``mir_eval.transcription``: onset only (50 ms) and onset+offset
    (50 ms, offset within 20% of the note or 50 ms)."""
    ref_i, ref_p = notes_to_arrays(reference)
    est_i, est_p = notes_to_arrays(estimate)
    if len(ref_i) == 0 or len(est_i) == 0:  # mir_eval warns and returns zeros; say the same quietly
        zero = 1.0 if len(ref_i) == len(est_i) else 0.0
        return {"note_f1": zero, "note_precision": zero, "note_recall": zero, "note_offset_f1": zero}
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p, offset_ratio=None)
    _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p)
    return {"note_f1": float(f), "note_precision": float(p), "note_recall": float(r), "note_offset_f1": float(f_off)}


def frame_scores(reference_roll: np.ndarray, estimate_roll: np.ndarray) -> dict[str, float]:
    """Frame-level precision/recall/F1 of binary piano rolls ``(frames, pitches)`` (counts over all
    frames and pitches, as Onsets and Frames reports)."""
    ref, est = reference_roll.astype(bool), estimate_roll.astype(bool)
    tp = float(np.logical_and(ref, est).sum())
    p = tp / max(est.sum(), 1)
    r = tp / max(ref.sum(), 1)
    return {"frame_f1": 2 * p * r / max(p + r, 1e-9), "frame_precision": p, "frame_recall": r}
