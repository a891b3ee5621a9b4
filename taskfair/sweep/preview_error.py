"""How wrong a preview is: its predictions and fairness numbers against exact evaluation.

:func:`measure_error` compares a preview with exact logits at held-out points (share of
predictions that agree; accuracy, DPD and EOD deltas); :func:`leave_one_out_error`
predicts each interior exact point of a curve from its two neighbours (across twice the
grid spacing: pessimistic, and free, since it needs no new evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from taskfair.metrics import PreviewScorer
from taskfair.sweep.preview import InterpolationPreview

__all__ = ["leave_one_out_error", "measure_error"]


def measure_error(
    preview: Callable[[object], np.ndarray],
    exact: Callable[[object], np.ndarray],
    points: Sequence,
    labels,
    groups,
) -> dict:
    """A preview's error against exact evaluation at held-out ``points``.

    ``preview(p)`` and ``exact(p)`` return logits ``(n, 2)`` for a point ``p`` (a λ or
    a coefficient dict). Returns ``agreement`` (mean share of rows whose predicted class
    agrees), ``agreement_min`` (worst point), ``d_accuracy``, ``d_dpd``, ``d_eod`` (max
    absolute difference over the points, NaN-aware) and ``points`` (one dict per point).
    """
    scorer = PreviewScorer(labels, groups)
    per_point = []
    for p in points:
        lp, le = np.asarray(preview(p)), np.asarray(exact(p))
        pp, pe = lp.argmax(axis=1), le.argmax(axis=1)
        rp, re = scorer.report_preds(pp), scorer.report_preds(pe)
        per_point.append(
            {
                "point": p if not isinstance(p, Mapping) else dict(p),
                "agreement": float((pp == pe).mean()) if len(pp) else math.nan,
                "d_accuracy": rp.accuracy - re.accuracy,
                "d_dpd": rp.dpd - re.dpd,
                "d_eod": rp.eod - re.eod,
                "max_abs_logit_error": float(np.abs(lp - le).max()) if len(lp) else 0.0,
            }
        )

    def worst(key):
        vals = [abs(x[key]) for x in per_point if not math.isnan(x[key])]
        return float(max(vals)) if vals else math.nan

    agree = [x["agreement"] for x in per_point]
    return {
        "agreement": float(np.mean(agree)) if agree else math.nan,
        "agreement_min": float(np.min(agree)) if agree else math.nan,
        "d_accuracy": worst("d_accuracy"),
        "d_dpd": worst("d_dpd"),
        "d_eod": worst("d_eod"),
        "n_rows": len(scorer.y),
        "points": per_point,
    }


def leave_one_out_error(exact: Mapping[float, np.ndarray], labels, groups) -> dict:
    """:func:`measure_error` of predicting every interior point of a curve's exact logits
    ``{x: logits}`` (at least 3) from its two neighbours."""
    xs = sorted(exact)
    if len(xs) < 3:
        raise ValueError("Leave-one-out needs at least 3 exact points.")

    def loo(x):
        i = xs.index(x)
        return InterpolationPreview(
            {xs[i - 1]: exact[xs[i - 1]], xs[i + 1]: exact[xs[i + 1]]}
        ).logits(x)

    return measure_error(loo, exact.__getitem__, xs[1:-1], labels, groups)
