"""Fast fairness metrics for previews: the same numbers as fairlearn, from the count table.

fairlearn's ``MetricFrame`` costs about 80 ms per call whatever the row count, which alone
would break a redraw budget of tens of milliseconds. A preview is scored many times over
fixed labels and groups, so :class:`PreviewScorer` reads every rate off the one
``(group, y, y_pred)`` count table of :mod:`taskfair.metrics._counts`, by the same NaN
rules as :func:`taskfair.metrics.fairness_report` (tests check it against fairlearn).
Exact points always go through ``fairness_report``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from taskfair.metrics._counts import CountTable, rates, table_metrics
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
        self.table = CountTable(labels, groups)
        self.y, self.codes = self.table.y, self.table.codes
        self.names = list(self.table.names_raw)

    def report(self, logits: np.ndarray):
        """A :class:`~taskfair.metrics.FairnessReport` of ``argmax(logits)`` (ties → 0)."""
        return self.report_preds(np.asarray(logits).argmax(axis=1))

    def report_preds(self, preds: np.ndarray):
        preds = np.asarray(preds, dtype=np.int64)
        n = len(self.y)
        t = self.table.of(preds)
        m, r = table_metrics(t), rates(t)
        # each group against every other grouped row: a two-group table per group
        g = t[:-1]
        rest = g.sum(axis=0)[None] - g
        sides = np.stack([g, rest, np.zeros_like(g)], axis=1)  # (k, 3, 2, 2): group, rest, none
        vs = table_metrics(sides)
        table = pd.DataFrame(
            {
                "n": r["n"].astype(np.int64),
                "n_pos": r["positives"].astype(np.int64),
                "n_neg": r["negatives"].astype(np.int64),
                "accuracy": r["accuracy"],
                "selection_rate": r["selection_rate"],
                "tpr": r["tpr"],
                "fpr": r["fpr"],
                "vs_rest_dpd": vs["dpd"],
                "vs_rest_eod": vs["eod"],
            },
            index=pd.Index(self.names, name="group", dtype=object),
        )[list(REPORT_COLUMNS)]
        constant = degenerate_of(table, float(preds.mean()) if n else math.nan, self.positive_label)
        return FairnessReport(
            accuracy=float(m["accuracy"]) if n else math.nan,
            macro_accuracy=float(m["macro_accuracy"]),
            worst_group_accuracy=float(m["worst_group_accuracy"]),
            dpd=float(m["dpd"]),
            eod=float(m["eod"]),
            by_group=table,
            n=n,
            n_grouped=int((self.codes >= 0).sum()),
            n_pos=int(self.y.sum()),
            n_neg=int(n - self.y.sum()),
            degenerate=constant.degenerate,
            degenerate_note=constant.note,
        )


def preview_report(logits: np.ndarray, labels, groups):
    """The fairness report of a preview's logits ``(n, 2)`` (see :class:`PreviewScorer`)."""
    return PreviewScorer(labels, groups).report(logits)
