"""The claims' resampling and scoring: one stratified row bootstrap, every point scored on it.

The eval rows are drawn stratified by label × group, so the resample is too: in every
stratum (label × group, rows in no group forming their own group) as many rows are drawn
with replacement as it holds (the metrics engine's strata and draw). Every prediction vector is scored on the *same* resamples,
which makes any difference between two points (or any function of several points, such
as the accuracy peak over the grid) a paired quantity.

Scores come from count tables under row weights (a resample's draw counts; all ones for
the rows as they are), so on the unresampled rows they equal fairlearn's values
(``demographic_parity_difference``, ``equalized_odds_difference``, macro accuracy over
groups, ``balanced_accuracy_score``). This module is the one place the claims resample:
:func:`stratified_weights` and :func:`weighted_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskfair.metrics import row_weights

__all__ = [
    "GROUP_METRICS",
    "POINT_METRICS",
    "replicates",
    "stratified_weights",
    "weighted_scores",
]

#: Point-level metrics, each ``(P, B)`` in :func:`weighted_scores`' result.
POINT_METRICS: tuple[str, ...] = (
    "accuracy",  # over all rows, grouped or not
    "macro_accuracy",  # mean over groups of the group's accuracy (the paper's Figures 2, 4)
    "balanced_accuracy",  # (TPR + TNR) / 2 over all rows
    "dpd",
    "eod",
    "soft_dpd",  # DPD of the mean score P(y=1) per group instead of the selection rate
)
#: Per-group metrics, each ``(P, B, G)``: the group's accuracy and its gaps to the rest.
GROUP_METRICS: tuple[str, ...] = ("group_accuracy", "vs_rest_dpd", "vs_rest_eod")


def stratified_weights(
    y: np.ndarray, groups: Sequence, n_boot: int, random_state: int = 0
) -> np.ndarray:
    """Draw counts of ``n_boot`` stratified resamples: float64 ``(n_boot, n)``
    (:func:`taskfair.metrics.row_weights`: the metrics engine's label × group strata and
    multinomial draw, every row its own pattern, so that scores and group-vs-rest gaps
    are read off the same resampled rows)."""
    return row_weights(y, groups, n_boot, random_state)


def _spread(x: np.ndarray) -> np.ndarray:
    return x.max(axis=-1) - x.min(axis=-1)


def weighted_scores(
    y, groups: Sequence, preds: Sequence[np.ndarray], w: np.ndarray, scores=None
) -> dict[str, np.ndarray]:
    """Every metric of each prediction vector under row weights ``w`` ``(B, n)``.

    ``y``: 0/1 labels ``(n,)``; ``groups``: group per row (None/NaN = no group);
    ``preds``: 0/1 predictions, each ``(n,)``; ``scores``: P(y=1) per row for each
    prediction (for ``soft_dpd``; NaN without). Returns ``{metric: (P, B)}`` for
    :data:`POINT_METRICS` and ``{metric: (P, B, G)}`` for :data:`GROUP_METRICS`, groups
    in order of first appearance. A metric undefined in a resample (a group with no rows;
    for EOD no positives or no negatives) is NaN there.
    """
    y = np.asarray(y, dtype=np.int64)
    codes, _ = pd.factorize(pd.Series(list(groups), dtype=object), use_na_sentinel=True)
    k = int(codes.max()) + 1 if len(codes) else 0
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    member = np.stack([codes == j for j in range(k)], axis=1).astype(np.float64)  # (n, k)
    anyone = member.any(axis=1, keepdims=True).astype(np.float64)
    cols = np.concatenate([member, member * (y == 1)[:, None], member * (y == 0)[:, None]], 1)
    rest = np.concatenate([anyone - member, (anyone - member) * (y == 1)[:, None],
                           (anyone - member) * (y == 0)[:, None]], 1)  # fmt: skip
    den, rden = w @ cols, w @ rest
    total, pos, neg = w.sum(1), w @ (y == 1).astype(float), w @ (y == 0).astype(float)
    out = {m: np.full((len(preds), len(w)), np.nan) for m in POINT_METRICS}
    out.update({m: np.full((len(preds), len(w), k), np.nan) for m in GROUP_METRICS})
    ok_g = (den[:, :k] > 0).all(axis=1) & (k >= 2)
    ok_c = (den[:, k:] > 0).all(axis=1) & (k >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, p in enumerate(preds):
            p = np.asarray(p, dtype=np.int64)
            hit = (p == y).astype(np.float64)
            out["accuracy"][i] = w @ hit / total
            tpr_all, tnr_all = w @ (hit * (y == 1)) / pos, w @ (hit * (y == 0)) / neg
            out["balanced_accuracy"][i] = (tpr_all + tnr_all) / 2
            acc_g = (w @ (member * hit[:, None])) / den[:, :k]
            out["macro_accuracy"][i] = np.nanmean(np.where(den[:, :k] > 0, acc_g, np.nan), 1)
            out["group_accuracy"][i] = acc_g
            rate, rrate = (w @ (cols * p[:, None])) / den, (w @ (rest * p[:, None])) / rden
            sel, tpr, fpr = rate[:, :k], rate[:, k : 2 * k], rate[:, 2 * k :]
            out["dpd"][i, ok_g] = _spread(sel[ok_g])
            out["eod"][i, ok_c] = np.maximum(_spread(tpr[ok_c]), _spread(fpr[ok_c]))
            rsel, rtpr, rfpr = rrate[:, :k], rrate[:, k : 2 * k], rrate[:, 2 * k :]
            out["vs_rest_dpd"][i] = np.abs(sel - rsel)
            out["vs_rest_eod"][i] = np.maximum(np.abs(tpr - rtpr), np.abs(fpr - rfpr))
            if scores is not None:
                s = np.asarray(scores[i], dtype=np.float64)
                mean_s = (w @ (member * s[:, None])) / den[:, :k]
                out["soft_dpd"][i, ok_g] = _spread(mean_s[ok_g])
    return out


def replicates(
    y, groups: Sequence, preds: Sequence[np.ndarray], scores=None, *, n_boot: int = 1000,
    random_state: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:  # fmt: skip
    """The observed values and ``n_boot`` stratified-resample replicates of every metric.

    Returns ``(observed, reps)``: ``observed[m]`` is ``(P,)`` (or ``(P, G)``) on the rows
    as they are, ``reps[m]`` ``(P, B)`` (or ``(P, B, G)``); see :func:`weighted_scores`.
    """
    n = len(np.asarray(y))
    obs = weighted_scores(y, groups, preds, np.ones((1, n)), scores)
    reps = weighted_scores(y, groups, preds, stratified_weights(y, groups, n_boot, random_state),
                           scores)  # fmt: skip
    return {m: v[:, 0] for m, v in obs.items()}, reps
