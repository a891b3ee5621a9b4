"""Fast fairness metrics for previews: the same numbers as fairlearn, from a count table.

fairlearn's ``MetricFrame`` costs about 80 ms per call whatever the row count, which alone
would break a redraw budget of tens of milliseconds. A preview is scored many times over
fixed labels and groups, so :class:`PreviewScorer` builds one ``(group, y, y_pred)``
count table per prediction vector with numpy and derives every rate from it, by the same
NaN rules as :func:`taskfair.metrics.fairness_report` (tests check it against
fairlearn). Exact points always go through ``fairness_report``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from taskfair.metrics._inputs import as_groups, as_labels
from taskfair.metrics._report import REPORT_COLUMNS, FairnessReport, degenerate_of

__all__ = ["PreviewScorer", "preview_report"]


class PreviewScorer:
    """Fast fairness metrics of many prediction vectors over fixed labels and groups.

    ``labels``: ``(n,)`` 0/1; ``groups``: ``(n,)`` group names, missing = no group (kept
    for accuracy only). Group names are sorted (a pandas Categorical keeps its category
    order), as in :mod:`taskfair.metrics`. Undefined numbers are NaN by the same rules:
    DPD needs two groups with rows; EOD also needs positives and negatives in every
    compared group. ``positive_label`` names class 1 in a degenerate point's note.
    """

    def __init__(self, labels, groups, positive_label: str | None = None):
        self.positive_label = positive_label
        self.y = as_labels(labels, "labels").astype(np.int64)
        codes, names = as_groups(groups, len(self.y))
        self.codes, self.names = codes, list(names)
        self._grouped = codes >= 0
        self._base = (codes[self._grouped] * 2 + self.y[self._grouped]) * 2
        self._n_groups = len(self.names)

    def report(self, logits: np.ndarray):
        """A :class:`~taskfair.metrics.FairnessReport` of ``argmax(logits)`` (ties → 0)."""
        return self.report_preds(np.asarray(logits).argmax(axis=1))

    def report_preds(self, preds: np.ndarray):
        preds = np.asarray(preds, dtype=np.int64)
        n, k = len(self.y), self._n_groups
        cells = np.bincount(self._base + preds[self._grouped], minlength=4 * k)
        c = cells.reshape(k, 2, 2).astype(np.float64)  # [group, y, y_pred]
        rows, pos, neg = c.sum(axis=(1, 2)), c[:, 1].sum(axis=1), c[:, 0].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = (c[:, 0, 0] + c[:, 1, 1]) / rows
            sel = (c[:, 0, 1] + c[:, 1, 1]) / rows
            tpr = c[:, 1, 1] / pos
            fpr = c[:, 0, 1] / neg
        present = rows > 0
        dpd, eod = _gaps(sel[present], tpr[present], fpr[present], pos[present], neg[present])
        vs_dpd, vs_eod = np.full(k, math.nan), np.full(k, math.nan)
        tot = c.sum(axis=0)
        for g in range(k):
            rest = tot - c[g]
            sides = [s for s in (c[g], rest) if s.sum() > 0]
            if len(sides) < 2:
                continue
            s = np.stack(sides)
            r, p, q = s.sum(axis=(1, 2)), s[:, 1].sum(axis=1), s[:, 0].sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                vs_dpd[g], vs_eod[g] = _gaps(
                    (s[:, 0, 1] + s[:, 1, 1]) / r, s[:, 1, 1] / p, s[:, 0, 1] / q, p, q
                )
        table = pd.DataFrame(
            {
                "n": rows.astype(np.int64),
                "n_pos": pos.astype(np.int64),
                "n_neg": neg.astype(np.int64),
                "accuracy": acc,
                "selection_rate": sel,
                "tpr": np.where(pos > 0, tpr, math.nan),
                "fpr": np.where(neg > 0, fpr, math.nan),
                "vs_rest_dpd": vs_dpd,
                "vs_rest_eod": vs_eod,
            },
            index=pd.Index(self.names, name="group", dtype=object),
        )[list(REPORT_COLUMNS)]
        present_acc = acc[present]
        constant = degenerate_of(table, float(preds.mean()) if n else math.nan, self.positive_label)
        return FairnessReport(
            accuracy=float((preds == self.y).mean()) if n else math.nan,
            macro_accuracy=float(present_acc.mean()) if present.any() else math.nan,
            worst_group_accuracy=float(present_acc.min()) if present.any() else math.nan,
            dpd=dpd,
            eod=eod,
            by_group=table,
            n=n,
            n_grouped=int(self._grouped.sum()),
            n_pos=int(self.y.sum()),
            n_neg=int(n - self.y.sum()),
            degenerate=constant.degenerate,
            degenerate_note=constant.note,
        )


def _gaps(sel, tpr, fpr, pos, neg) -> tuple[float, float]:
    """(DPD, EOD) over the compared sides; NaN where undefined (metrics._guarded's rules)."""
    if len(sel) < 2:
        return math.nan, math.nan
    dpd = float(sel.max() - sel.min())
    if (pos == 0).any() or (neg == 0).any():
        return dpd, math.nan
    return dpd, float(max(tpr.max() - tpr.min(), fpr.max() - fpr.min()))


def preview_report(logits: np.ndarray, labels, groups):
    """The fairness report of a preview's logits ``(n, 2)`` (see :class:`PreviewScorer`)."""
    return PreviewScorer(labels, groups).report(logits)
