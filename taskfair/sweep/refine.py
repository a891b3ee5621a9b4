"""Adaptive refinement: evaluate exactly where two neighbouring exact points disagree most.

A preview interpolates the logits of the two exact points around it, so its error inside
an interval is bounded in practice by how much the two ends disagree: where both ends
predict the same class for every row, the interpolated margin keeps its sign and the
preview is exact. What matters to a reader is that disagreement in fairness units, so an
interval is scored by the largest of |Δaccuracy|, |ΔDPD| and |ΔEOD| between its ends
(:func:`disagreement`), and the next exact evaluation goes to the middle of the worst
interval (:func:`propose_lambda`) until every interval is within
:data:`PREVIEW_TARGET`. The page's background plan uses the same score to order the
grid points it has left (:func:`refine_order`), and ``bench`` uses
:func:`propose_lambda` to refine beyond the grid before measuring the preview at
held-out λ that are never evaluated for the preview itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from taskfair.metrics import PreviewScorer

__all__ = [
    "MIN_WIDTH",
    "PREVIEW_TARGET",
    "disagreement",
    "propose_lambda",
    "refine_order",
    "target_met",
]

#: The preview's error budget in fairness units (|ΔDPD| and |ΔEOD|, at held-out λ).
PREVIEW_TARGET = 0.01
#: Intervals narrower than this are not split further (0.1 / 16: four halvings of a
#: grid step).
MIN_WIDTH = 0.1 / 16
# Rates are ratios of counts: 1/100 must compare equal to the 0.01 target.
_TOL = 1e-9


def disagreement(scorer: PreviewScorer, logits_a: np.ndarray, logits_b: np.ndarray) -> dict:
    """How much two exact points disagree: ``rows`` (share of rows whose predicted class
    differs), ``d_accuracy``, ``d_dpd``, ``d_eod`` (absolute, NaN where undefined) and
    ``score``, the largest of the three deltas (NaN-aware; 0 when all are NaN)."""
    pa, pb = np.asarray(logits_a).argmax(axis=1), np.asarray(logits_b).argmax(axis=1)
    ra, rb = scorer.report_preds(pa), scorer.report_preds(pb)
    out = {
        "rows": float((pa != pb).mean()) if len(pa) else 0.0,
        "d_accuracy": abs(ra.accuracy - rb.accuracy),
        "d_dpd": abs(ra.dpd - rb.dpd),
        "d_eod": abs(ra.eod - rb.eod),
    }
    deltas = [v for k, v in out.items() if k != "rows" and not math.isnan(v)]
    out["score"] = float(max(deltas)) if deltas else 0.0
    return out


def _intervals(exact: Mapping[float, np.ndarray], scorer: PreviewScorer):
    xs = sorted(exact)
    return [
        (a, b, disagreement(scorer, exact[a], exact[b])) for a, b in zip(xs, xs[1:], strict=False)
    ]


def propose_lambda(
    exact: Mapping[float, np.ndarray],
    scorer: PreviewScorer,
    target: float = PREVIEW_TARGET,
    min_width: float = MIN_WIDTH,
) -> float | None:
    """The next λ to evaluate exactly: the midpoint of the pair of neighbouring exact
    points ``{λ: logits (n, 2)}`` whose disagreement score is largest, if it exceeds
    ``target`` and the pair is wider than ``min_width``; None when every interval is
    within the target (or too narrow to split). Ties go to more disagreeing rows, then
    to the smaller λ."""
    best = None
    for a, b, d in _intervals(exact, scorer):
        if b - a <= min_width + 1e-12 or d["score"] <= target + _TOL:
            continue
        rank = (d["score"], d["rows"], -a)
        if best is None or rank > best[0]:
            best = (rank, a, b)
    return None if best is None else round((best[1] + best[2]) / 2, 10)


def target_met(err: Mapping, target: float = PREVIEW_TARGET) -> bool:
    """Whether a measured preview error (``d_dpd``, ``d_eod``) is within ``target``; NaN
    (undefined at every point) does not count as met."""
    vals = [err.get("d_dpd"), err.get("d_eod")]
    return all(v is not None and not math.isnan(v) and v <= target + _TOL for v in vals)


def refine_order(
    candidates: Sequence[tuple[float, object]], scores: Mapping[tuple[float, float], float]
) -> list[tuple[float, object]]:
    """``candidates`` ``[(x, item)]`` (points not evaluated yet) in the order adaptive
    refinement would evaluate them. ``scores``: ``{(a, b): score}`` of every pair of
    neighbouring exact points (:func:`disagreement`'s ``score``). Candidates inside the
    interval that disagrees most come first, the one nearest its middle first; one
    outside every interval comes after them. Stable otherwise."""
    xs = sorted({v for pair in scores for v in pair})
    if len(xs) < 2:
        return list(candidates)

    def rank(entry):
        i, (x, _) = entry
        below = [v for v in xs if v < x]
        above = [v for v in xs if v > x]
        if not below or not above:
            return (1, 0.0, 0.0, i)
        a, b = below[-1], above[0]
        return (0, -scores.get((a, b), 0.0), abs(x - (a + b) / 2), i)

    return [c for _, c in sorted(enumerate(candidates), key=rank)]
