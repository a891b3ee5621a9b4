"""The shared-shift diagnostic: why a merge collapses to one class, from its logits.

A merge can predict one class for nearly every row in two ways. Either every margin
(``logit₁ − logit₀``) moved the same way, so the rows are still ordered as well as
before and only the decision threshold is lost (*ranking kept, threshold lost*: a
shared shift, the collapse of the paper's form in docs/FINDINGS.md), or the ordering
itself is gone (*ranking lost*). Four numbers tell them apart: the mean margin, the
margin spread (standard deviation), the ROC AUC of the margin (the ranking, which no
threshold changes) and the accuracy at the validation threshold (the threshold chosen
on the validation rows' accuracy, applied to the shown rows) beside the accuracy at the
argmax threshold 0.

The validation threshold is itself a fairness lever: moving it changes every group's
selection rate, so DPD and EOD read at it are those of another predictor, not of the
merge at argmax (:func:`taskfair.analysis.controls` measures them so).

:func:`shift_diagnostic` works on logits; :func:`store_diagnostic` reads a point's cached
logits from a :class:`~taskfair.sweep.PointStore` (no model); :func:`diagnostic_text` is
the sentence pages and ``info`` show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "COLLAPSED",
    "RANKING_AUC",
    "ShiftDiagnostic",
    "best_threshold",
    "bundle_diagnostics",
    "diagnostic_text",
    "margins",
    "roc_auc",
    "shift_diagnostic",
    "store_diagnostic",
]

#: A merge predicting one class for at least this share of rows has collapsed.
COLLAPSED = 0.95
#: At or above this ROC AUC the ranking counts as kept (0.5: no ranking at all).
RANKING_AUC = 0.65


def margins(logits: np.ndarray) -> np.ndarray:
    """``logit₁ − logit₀`` per row (positive: predicted label 1)."""
    z = np.asarray(logits, dtype=np.float64)
    return z[:, 1] - z[:, 0]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """The ROC AUC of ``scores`` for 0/1 ``labels`` (ties count one half), ``None``
    when one class is absent."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The margin threshold with the highest accuracy on (``scores``, ``labels``):
    predict 1 where ``score > t``; among equally accurate thresholds the one closest to
    0. Candidates: midpoints between consecutive distinct scores, and both ends."""
    s = np.unique(np.asarray(scores, dtype=np.float64))
    labels = np.asarray(labels).astype(int)
    cands = np.concatenate([[s[0] - 1.0], (s[:-1] + s[1:]) / 2.0, [s[-1] + 1.0], [0.0]])
    acc = np.array([((scores > t).astype(int) == labels).mean() for t in cands])
    best = np.flatnonzero(acc >= acc.max() - 1e-12)
    return float(cands[best[np.argmin(np.abs(cands[best]))]])


@dataclass(frozen=True)
class ShiftDiagnostic:
    """One merge on one split. ``mean_margin``/``margin_spread``: mean and standard
    deviation of the margins; ``positive_rate``: the share predicted 1 at argmax;
    ``auc``: ROC AUC of the margin; ``accuracy``: at argmax (threshold 0);
    ``threshold``: chosen on the validation rows' accuracy; ``accuracy_at_val_threshold``
    and ``positive_rate_at_val_threshold``: on these rows at it; ``verdict``:
    ``"no collapse"``, ``"ranking kept, threshold lost"`` or ``"ranking lost"``."""

    mean_margin: float
    margin_spread: float
    positive_rate: float
    auc: float | None
    accuracy: float
    threshold: float
    accuracy_at_val_threshold: float
    positive_rate_at_val_threshold: float
    verdict: str

    def record(self) -> dict:
        return asdict(self)


def shift_diagnostic(
    logits: np.ndarray,
    labels: np.ndarray,
    val_logits: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
) -> ShiftDiagnostic:
    """The diagnostic of one merge on rows (``logits`` ``(n, 2)``, 0/1 ``labels``), its
    threshold chosen on (``val_logits``, ``val_labels``), or on these rows when no
    validation rows are given (then the "validation threshold" is an in-sample one)."""
    m, y = margins(logits), np.asarray(labels).astype(int)
    t = best_threshold(
        margins(val_logits) if val_logits is not None else m,
        np.asarray(val_labels if val_labels is not None else y),
    )
    rate = float((m > 0).mean())
    auc = roc_auc(m, y)
    collapsed = max(rate, 1.0 - rate) >= COLLAPSED
    if not collapsed:
        verdict = "no collapse"
    elif auc is not None and auc >= RANKING_AUC:
        verdict = "ranking kept, threshold lost"
    else:
        verdict = "ranking lost"
    return ShiftDiagnostic(
        mean_margin=float(m.mean()),
        margin_spread=float(m.std()),
        positive_rate=rate,
        auc=auc,
        accuracy=float(((m > 0).astype(int) == y).mean()),
        threshold=t,
        accuracy_at_val_threshold=float(((m > t).astype(int) == y).mean()),
        positive_rate_at_val_threshold=float((m > t).mean()),
        verdict=verdict,
    )


def store_diagnostic(store, setting, split: str) -> ShiftDiagnostic | None:
    """The diagnostic of a cached point of ``store`` on ``split``, its threshold chosen
    on the store's validation rows (``None`` until the point is exact on both)."""
    logits = store.logits(setting, split)
    val = store.logits(setting, "val") if "val" in store.splits else None
    if logits is None or val is None:
        return None
    return shift_diagnostic(logits, store.split(split).labels, val, store.split("val").labels)


def diagnostic_text(d: ShiftDiagnostic, positive: str = "label 1") -> str:
    """One or two sentences: the numbers, and what they say about a collapse."""
    auc = "n/a" if d.auc is None else f"{d.auc:.3f}"
    numbers = (
        f"mean margin {d.mean_margin:+.2f} (spread {d.margin_spread:.2f}), "
        f"{d.positive_rate:.0%} predicted {positive}; ROC AUC {auc}; accuracy "
        f"{d.accuracy:.3f} at argmax, {d.accuracy_at_val_threshold:.3f} at the validation "
        f"threshold {d.threshold:+.2f}"
    )
    if d.verdict == "ranking kept, threshold lost":
        why = (
            "**Shared shift — ranking kept, threshold lost**: every margin moved the same way, "
            "so the rows are still ordered but the argmax threshold no longer separates them. "
            "A threshold chosen on validation restores accuracy; it also moves every group's "
            "selection rate, so it is itself a fairness lever."
        )
    elif d.verdict == "ranking lost":
        why = "**Ranking lost**: the merge no longer orders the rows; no threshold rescues it."
    else:
        why = "No collapse: the merge predicts both classes."
    return f"{why} ({numbers}.)"


def bundle_diagnostics(bundle, seed: int | None = None, split: str = "test") -> list[dict]:
    """The diagnostic of every merge of one seed of ``bundle`` whose logits are cached on
    ``split`` and on val: task addition over the λ grid (both normalisations) and the
    reference points. No model is loaded. Records: ``label`` (the setting's) and the
    :class:`ShiftDiagnostic` fields."""
    from taskfair.grid import LAMBDA_GRID
    from taskfair.merge import NORMALIZATIONS
    from taskfair.sweep import PointStore, reference_settings, task_addition_settings

    seed = bundle.seeds[0] if seed is None else seed
    names = bundle.vector_names(seed)
    groups = [g for g in bundle.groups if g in names]
    store = PointStore.for_bundle(bundle, seed)
    if split not in store.splits:
        return []
    settings = [s for n in NORMALIZATIONS for s in task_addition_settings(groups, LAMBDA_GRID, n)]
    out = []
    for setting in [*settings, *reference_settings(names)]:
        d = store_diagnostic(store, setting, split)
        if d is not None:
            out.append({"label": setting.label(), **d.record()})
    return out
