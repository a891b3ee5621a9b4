"""The labels and groups of one evaluation split, and the check of a cached point's rows
against them (:class:`SplitRows`, :func:`inconsistency`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskfair.metrics import OVERALL

__all__ = ["SplitRows", "inconsistency"]


@dataclass(frozen=True)
class SplitRows:
    """Labels ``(n,)`` int64 0/1 and groups (name or missing, index 0..n-1) of one split;
    ``attributes``: every sensitive attribute column of the rows (index 0..n-1), for
    reading metrics over intersections (None when the rows keep only the trained one)."""

    labels: np.ndarray
    groups: pd.Series
    attributes: pd.DataFrame | None = None


def inconsistency(rows: pd.DataFrame, logits: np.ndarray, sp: SplitRows) -> str | None:
    """Why a cached point's rows are not those of its logits on this split, or None: the
    overall accuracy, and each group's size and selection rate, recomputed from the
    logits (a cheap check that catches edited numbers and rows of another point)."""
    preds = logits.argmax(axis=1)
    top = rows[rows["group"] == OVERALL]
    if len(top) != 1 or int(top["n"].iloc[0]) != len(preds):
        return "its overall row does not count the split's rows"
    if abs(float(top["accuracy"].iloc[0]) - float((preds == sp.labels).mean())) > 1e-9:
        return "its overall accuracy is not that of its logits"
    for g, n, rate in rows.loc[
        rows["group"] != OVERALL, ["group", "n", "selection_rate"]
    ].itertuples(index=False):
        mask = (sp.groups == g).fillna(False).to_numpy(dtype=bool)
        if int(mask.sum()) != int(n):
            return f"its group {g!r} has {n} rows, the split {int(mask.sum())}"
        if mask.any() and not pd.isna(rate) and abs(float(rate) - float(preds[mask].mean())) > 1e-9:
            return f"its selection rate of group {g!r} is not that of its logits"
    return None
