"""Threshold-free and calibration metrics per group, from scores (no threshold involved).

For toxicity classifiers the standard per-group readings (Borkan et al. 2019, "Nuanced
Metrics for Measuring Unintended Bias with Real Data for Text Classification"):

* **subgroup AUC**: the ROC AUC on the group's rows only (can the model rank toxic above
  non-toxic *within* the group?);
* **BPSN AUC** (background positive, subgroup negative): the AUC on the group's
  negatives and the background's positives; low when the group's non-toxic rows score
  higher than other rows' toxic ones (false positives driven by the identity);
* **BNSP AUC** (background negative, subgroup positive): the converse; low when the
  group's toxic rows score lower than other rows' non-toxic ones.

The background is every row not in the group, rows in no group included (Borkan's
definition). Calibration per group (Guo et al. 2017, "On Calibration of Modern Neural
Networks"): **ECE** with equal-width bins of the confidence (the probability of the
predicted class), the row-weighted mean of |accuracy − confidence| over the bins, and the
**Brier score**, the mean of (P(y=1) − y)².

Intervals: the same stratified row resample as the fairness intervals (the metrics
engine's label × group strata and multinomial draw, :func:`row_weights`); each metric is
computed under every resample's draw counts, and the interval is the percentile interval
of the defined resamples. An AUC needs both classes: NaN where a side has no rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from taskfair.metrics._counts import CountTable
from taskfair.metrics._resampler import draw_strata

__all__ = [
    "ECE_BINS",
    "RANKING_METRICS",
    "group_ranking",
    "positive_scores",
    "ranking_intervals",
    "row_weights",
    "weighted_auc",
]

#: The per-group threshold-free and calibration metrics, in table order.
RANKING_METRICS: tuple[str, ...] = ("subgroup_auc", "bpsn_auc", "bnsp_auc", "ece", "brier")
#: Equal-width confidence bins of the ECE.
ECE_BINS = 10


def positive_scores(logits: np.ndarray) -> np.ndarray:
    """Softmax probability of class 1 from ``(n, 2)`` logits: float64 ``(n,)``."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"logits must be (n, 2), got shape {z.shape}")
    return 1.0 / (1.0 + np.exp(z[:, 0] - z[:, 1]))


def row_weights(y_true, groups, n_boot: int, random_state: int = 0) -> np.ndarray:
    """Draw counts ``(n_boot, n)`` of stratified row resamples: every label × group
    stratum (rows in no group forming their own) keeps its size, drawn with replacement
    inside it (the engine's multinomial draw, one row per pattern)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot!r}")
    table = CountTable(y_true, groups)
    rng = np.random.default_rng(random_state)
    w = np.zeros((n_boot, table.n))
    for s in np.unique(table.stratum):
        rows = np.flatnonzero(table.stratum == s)
        w[:, rows] = draw_strata(np.ones(len(rows)), n_boot, rng)
    return w


def weighted_auc(scores: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC AUC of ``scores`` for labels ``y`` under row weights ``w`` ``(B, n)``: ``(B,)``.

    P(score of a positive > score of a negative) + ½ P(tie), each pair weighted by the
    product of its rows' weights (equal to sklearn's ``roc_auc_score`` with
    ``sample_weight``). NaN where the positives' or negatives' weight is 0.
    """
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    y = np.asarray(y).astype(bool)
    uniq, inv = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)
    onehot = np.zeros((len(y), len(uniq)))
    onehot[np.arange(len(y)), inv.ravel()] = 1.0
    neg_at = (w * ~y) @ onehot  # (B, U): negatives' weight at each score value
    pos_at = (w * y) @ onehot
    below = np.cumsum(neg_at, axis=1) - neg_at  # negatives strictly below
    pairs = (pos_at * (below + 0.5 * neg_at)).sum(axis=1)
    total = pos_at.sum(axis=1) * neg_at.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, pairs / np.where(total > 0, total, 1.0), np.nan)


def _ece(p: np.ndarray, y: np.ndarray, w: np.ndarray, bins: int) -> np.ndarray:
    pred = (p >= 0.5).astype(np.int64)
    conf = np.where(pred == 1, p, 1.0 - p)
    hit = (pred == y).astype(np.float64)
    edges = np.clip(np.floor((conf - 0.5) * 2 * bins).astype(np.int64), 0, bins - 1)
    onehot = np.zeros((len(p), bins))
    onehot[np.arange(len(p)), edges] = 1.0
    n_b = w @ onehot
    gap = np.abs(w @ (onehot * hit[:, None]) - w @ (onehot * conf[:, None]))
    total = n_b.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, gap.sum(axis=1) / total, np.nan)


def _metrics(y, p, codes, k, w, bins) -> dict[str, np.ndarray]:
    """Every metric of :data:`RANKING_METRICS` per group ``(B, k)`` under weights ``w``."""
    out = {m: np.full((len(w), k), np.nan) for m in RANKING_METRICS}
    pos, neg = y == 1, y == 0
    for j in range(k):
        inside = codes == j
        out["subgroup_auc"][:, j] = weighted_auc(p, y, w * inside)
        out["bpsn_auc"][:, j] = weighted_auc(p, y, w * ((inside & neg) | (~inside & pos)))
        out["bnsp_auc"][:, j] = weighted_auc(p, y, w * ((inside & pos) | (~inside & neg)))
        wg = w * inside
        out["ece"][:, j] = _ece(p, y, wg, bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            den = wg.sum(axis=1)
            out["brier"][:, j] = np.where(
                den > 0, wg @ (p - y) ** 2 / np.where(den > 0, den, 1), np.nan
            )
    return out


def _coded(y_true, scores, groups) -> tuple[np.ndarray, np.ndarray, CountTable]:
    table = CountTable(y_true, groups)
    p = np.asarray(scores, dtype=np.float64)
    if p.shape != (table.n,):
        raise ValueError(f"scores must have one value per row ({table.n}), got {p.shape}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("scores must be probabilities in [0, 1] (use positive_scores(logits))")
    return table.y, p, table


def group_ranking(y_true, scores, sensitive_features, *, bins: int = ECE_BINS) -> pd.DataFrame:
    """One row per group: ``group, n, positives, negatives`` and :data:`RANKING_METRICS`.

    ``y_true``: 0/1 ``(n,)``; ``scores``: P(y=1) ``(n,)`` (e.g. :func:`positive_scores`);
    ``sensitive_features``: group per row (missing = no group; such rows still count in
    every group's background).
    """
    y, p, table = _coded(y_true, scores, sensitive_features)
    got = _metrics(y, p, table.codes, table.k, np.ones((1, table.n)), bins)
    rows = []
    for j, name in enumerate(table.names):
        inside = table.codes == j
        rows.append({"group": name, "n": int(inside.sum()), "positives": int((y[inside] == 1).sum()),
                     "negatives": int((y[inside] == 0).sum()),
                     **{m: float(got[m][0, j]) for m in RANKING_METRICS}})  # fmt: skip
    return pd.DataFrame(rows)


def ranking_intervals(
    y_true,
    scores,
    sensitive_features,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    random_state: int = 0,
    bins: int = ECE_BINS,
) -> pd.DataFrame:
    """:func:`group_ranking` with ``<metric>_lo`` / ``<metric>_hi`` percentile intervals
    over ``n_boot`` stratified row resamples (:func:`row_weights`)."""
    y, p, table = _coded(y_true, scores, sensitive_features)
    frame = group_ranking(y_true, scores, sensitive_features, bins=bins)
    got = _metrics(y, p, table.codes, table.k, row_weights(y, sensitive_features, n_boot,
                                                           random_state), bins)  # fmt: skip
    a = (1.0 - level) / 2.0
    for m in RANKING_METRICS:
        lo, hi = [], []
        for j in range(table.k):
            v = got[m][:, j]
            v = v[~np.isnan(v)]
            q = np.quantile(v, [a, 1.0 - a]) if len(v) else (np.nan, np.nan)
            lo.append(float(q[0]))
            hi.append(float(q[1]))
        frame[f"{m}_lo"], frame[f"{m}_hi"] = lo, hi
    return frame
