"""Linear probes: how much of a label a representation exposes to a single linear layer.

- Clip level: mean and std over time -> z-score -> one logistic regression per tag
  (scikit-learn), scored by macro ROC-AUC over the tags both classes of which are in the test set.
- Frame level: z-scored frames -> one linear layer with a sigmoid per output, fit by L-BFGS on
  the binary cross-entropy with a small L2 penalty; its decision threshold is chosen on the
  validation tracks, then frame F1 (micro over frames x outputs, scikit-learn) on the test tracks.

Every representation goes through exactly the same code and hyper-parameters: fixed, not tuned
per representation, and never chosen on the test tracks. The tag regressions' L2 strength may
instead be chosen per labelled subset from its own tracks (:func:`select_c`, ``booster probe
--tag-c cv``). On the bundled model's probe set that changed no macro ROC-AUC by more than 0.004:
with 24 tracks the pooled vectors of every representation are separable, and the regression's
direction barely moves with the penalty (``docs/results/booster-v2/probe-c/``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def pooled(frames: list[np.ndarray]) -> np.ndarray:
    """Mean and std over time of each track's ``(frames, dim)`` -> ``(tracks, 2 * dim)``."""
    return np.stack([np.concatenate([x.mean(axis=0), x.std(axis=0)]) for x in frames])


def _scaled_in_span(fit: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets z-scored by ``fit``'s statistics, in coordinates of the span of ``fit``'s rows when that is
    narrower than the features: an L2-penalised linear model fit on ``fit`` has its weights in that span
    (they are a combination of the training rows' gradients), so its decisions on any rows are unchanged,
    and a 3000-wide pooled vector over 24 tracks becomes 24 wide."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(fit)
    a, b = scaler.transform(fit), scaler.transform(other)
    if a.shape[1] <= a.shape[0]:
        return a, b
    _, sv, vt = np.linalg.svd(a, full_matrices=False)
    keep = sv > sv[0] * 1e-9
    if not keep.any():  # constant features (a dead layer of the random control): nothing to fit, as before
        return a, b
    basis = vt[keep].T  # (dim, rank), orthonormal: the penalty ||w||^2 is the same in it
    return a @ basis, b @ basis


def _tag_decisions(fit: np.ndarray, labels: np.ndarray, score: np.ndarray, c: float) -> np.ndarray:
    """Decision values on ``score`` (rows, n_tags) of one logistic regression per tag fit on ``fit`` and its
    0/1 ``labels`` (rows, n_tags); nan for a tag with a single class in ``labels`` (it cannot be fit)."""
    from sklearn.linear_model import LogisticRegression

    out = np.full((len(score), labels.shape[1]), np.nan)
    for k in range(labels.shape[1]):
        if len(set(labels[:, k])) == 2:
            out[:, k] = LogisticRegression(C=c, max_iter=2000).fit(fit, labels[:, k]).decision_function(score)
    return out


def _aucs(labels: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """ROC-AUC per tag over the rows with a decision, ``(n_tags,)``; nan where those rows hold one class."""
    from sklearn.metrics import roc_auc_score

    out = np.full(labels.shape[1], np.nan)
    for k in range(labels.shape[1]):
        ok = np.isfinite(decisions[:, k])
        if len(set(labels[ok, k])) == 2:
            out[k] = roc_auc_score(labels[ok, k], decisions[ok, k])
    return out


def per_tag_auc(x: np.ndarray, tags: np.ndarray, train: list[int], test: list[int], c: float = 1.0) -> np.ndarray:
    """ROC-AUC on ``test`` of one logistic regression per tag fit on ``train``, ``(n_tags,)``.

    ``x``: ``(tracks, dim)`` pooled features; ``tags``: ``(tracks, n_tags)`` 0/1. A tag with a single class
    among the training or the test tracks is nan (it cannot be fit or scored).
    """
    xtr, xte = _scaled_in_span(x[train], x[test])
    return _aucs(tags[test], _tag_decisions(xtr, tags[train], xte, c))


def select_c(x: np.ndarray, tags: np.ndarray, train: list[int], cs: tuple[float, ...],
             folds: int = 4) -> float:
    """The inverse L2 strength of ``cs`` whose per-tag regressions score the best macro ROC-AUC in
    ``folds``-fold cross-validation over the labelled tracks ``train`` alone.

    Each track's out-of-fold decision value is kept, and each tag's AUC is taken over all of
    ``train`` at once: with 24 tracks a fold of 6 rarely holds both classes of a tag, the pooled
    out-of-fold values do. Ties go to the smaller ``C`` (the stronger penalty).
    """
    train = np.asarray(train)
    fold_of = np.arange(len(train)) % folds
    splits = [(fold_of == f, *_scaled_in_span(x[train[fold_of != f]], x[train[fold_of == f]])) for f in range(folds)]
    best_c, best = min(cs), -np.inf
    for c in sorted(cs):
        oof = np.full((len(train), tags.shape[1]), np.nan)
        for held, xi, xh in splits:
            oof[held] = _tag_decisions(xi, tags[train[~held]], xh, c)
        aucs = _aucs(tags[train], oof)
        score = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else -np.inf
        if score > best + 1e-9:
            best_c, best = c, score
    return best_c


def tag_auc(x: np.ndarray, tags: np.ndarray, train: list[int], test: list[int], c: float = 1.0) -> float:
    """Macro ROC-AUC on ``test`` of per-tag logistic regressions fit on ``train`` (:func:`per_tag_auc`), over
    the tags that could be scored."""
    aucs = per_tag_auc(x, tags, train, test, c)
    return float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")


class FrameProbe:
    """One linear layer ``(frames, dim) -> (frames, outputs)`` with sigmoid outputs.

    Args:
        l2: penalty on the weights (inputs are z-scored, so one value suits every representation).
        max_iter: L-BFGS iterations.
    """

    def __init__(self, l2: float = 1e-4, max_iter: int = 80):
        self.l2, self.max_iter = l2, max_iter

    def fit(self, x: np.ndarray, y: np.ndarray) -> FrameProbe:
        """``x``: ``(frames, dim)``, ``y``: ``(frames, outputs)`` 0/1."""
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-5
        xt = torch.from_numpy(((x - self.mean) / self.std).astype(np.float32))
        yt = torch.from_numpy(y.astype(np.float32))
        prior = yt.mean(0).clamp(1e-4, 1 - 1e-4)
        w = torch.zeros(xt.shape[1], yt.shape[1], requires_grad=True)
        b = torch.log(prior / (1 - prior)).clone().requires_grad_(True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=self.max_iter, history_size=20,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(xt @ w + b, yt) + self.l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.w, self.b = w.detach(), b.detach()
        return self

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(frames, outputs)``."""
        xt = torch.from_numpy(((x - self.mean) / self.std).astype(np.float32))
        return torch.sigmoid(xt @ self.w + self.b).numpy()


def frame_f1(prob: np.ndarray, target: np.ndarray, threshold: float) -> float:
    """Micro F1 over all frames and outputs of ``prob >= threshold`` against 0/1 ``target``."""
    from sklearn.metrics import f1_score

    return float(f1_score(target.ravel() > 0.5, prob.ravel() >= threshold, zero_division=0.0))


def best_threshold(prob: np.ndarray, target: np.ndarray) -> float:
    """The threshold of :data:`THRESHOLDS` with the highest frame F1 (ties: the lowest); counted in
    numpy, since it is tried 19 times on millions of frame x output cells."""
    positive = target.ravel() > 0.5
    p = prob.ravel()
    scores = []
    for t in THRESHOLDS:
        pred = p >= t
        tp = np.count_nonzero(pred & positive)
        scores.append(2 * tp / max(1, np.count_nonzero(pred) + np.count_nonzero(positive)))
    return float(THRESHOLDS[int(np.argmax(scores))])
